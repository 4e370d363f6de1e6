// Behaviour shared by every page, kept out of the HTML: the Content-Security-Policy allows no inline script
// or on*= attribute.
"use strict";

// <select data-autosubmit> submits its form when changed (the language switch; a <noscript> button
// does the same without JavaScript).
document.addEventListener("change", (event) => {
  const field = event.target;
  if (field instanceof HTMLSelectElement && field.hasAttribute("data-autosubmit") && field.form) {
    field.form.submit();
  }
});

// A form re-rendered with its errors comes back as 400 or 422; htmx does not swap error responses by
// default, so the message would never reach the screen. Swap those two (they carry the form to show);
// other errors keep htmx's default.
document.addEventListener("htmx:beforeSwap", (event) => {
  const status = event.detail.xhr.status;
  if (status === 400 || status === 422) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});
