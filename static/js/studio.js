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
