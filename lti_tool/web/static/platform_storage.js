// LTI Platform Storage (1EdTech "LTI Client Side postMessages"): keep the login's browser
// binding in the LMS frame when this iframe may not keep cookies (Safari, blocked 3p cookies).
(function () {
  "use strict";
  // New-window fallback page, top-level: post the launch once more from this (the tool's own)
  // site, so a SameSite=Lax login cookie is sent with it. Never inside a frame.
  var retry = document.getElementById("lti-same-site-retry");
  if (retry && window.top === window.self) { retry.submit(); }
})();

(function () {
  "use strict";
  var el = document.getElementById("lti-storage");
  if (!el) { return; }
  var mode = el.dataset.mode, key = el.dataset.key, origin = el.dataset.origin;
  var targetName = el.dataset.target;
  var messageId = "mc-" + Math.random().toString(36).slice(2) + Date.now();
  var done = false;

  function targetFrame() {
    try {
      if (targetName && targetName !== "_parent" && window.parent.frames[targetName]) {
        return window.parent.frames[targetName];
      }
    } catch (e) { /* cross-origin access to frames by name can throw */ }
    return window.parent;
  }

  function finishPut() {
    if (done) { return; }
    done = true;
    window.location.href = el.dataset.next;
  }

  function finishGet(value) {
    if (done) { return; }
    done = true;
    if (value) {
      var form = document.getElementById("lti-storage-form");
      form.elements.lti_storage_value.value = value;
      form.submit();
    } else {
      document.getElementById("lti-storage-fallback").hidden = false;
    }
  }

  window.addEventListener("message", function (event) {
    if (event.origin !== origin || !event.data || event.data.message_id !== messageId) { return; }
    if (mode === "put" && event.data.subject === "lti.put_data.response") {
      finishPut();  // on error too: the cookie may still work
    } else if (mode === "get" && event.data.subject === "lti.get_data.response") {
      finishGet(event.data.error ? null : event.data.value);
    }
  });

  var message = { subject: mode === "put" ? "lti.put_data" : "lti.get_data",
                  message_id: messageId, key: key };
  if (mode === "put") { message.value = el.dataset.value; }
  targetFrame().postMessage(message, origin);
  // Tsugi waits 2 s for the platform; we do the same, then fall back.
  window.setTimeout(function () { mode === "put" ? finishPut() : finishGet(null); }, 2000);
})();
