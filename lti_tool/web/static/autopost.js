// Deep Linking: post the signed response back to the LMS as soon as the page loads.
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("autopost");
  if (form) { form.submit(); }
});
