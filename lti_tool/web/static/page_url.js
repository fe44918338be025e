// A page rendered in answer to the launch POST: show its GET address instead, so reloading
// the page (or the LMS frame) does not re-post a launch that was already used.
(function () {
  "use strict";
  var el = document.getElementById("page-url");
  if (el && window.history && window.history.replaceState) {
    window.history.replaceState(null, "", el.dataset.url);
  }
})();
