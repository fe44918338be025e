// LTI Dynamic Registration 1.0 §4: tell the LMS window that registration is done, so that it
// closes this popup or iframe and shows the new tool. targetOrigin "*" as the spec requires:
// the message carries nothing secret.
(function () {
  "use strict";
  var el = document.getElementById("lti-registration");
  if (!el) { return; }
  var subject = el.dataset.subject || "org.imsglobal.lti.close";

  function close() {
    var target = window.opener || (window.parent !== window ? window.parent : null);
    if (target) {
      target.postMessage({ subject: subject }, "*");
    } else {
      window.close();
    }
  }

  var button = document.getElementById("lti-registration-close");
  if (button) { button.addEventListener("click", close); }
  close();
})();
