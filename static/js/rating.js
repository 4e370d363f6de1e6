// Rating page: keyboard-first scoring of the seven criteria.
// 1–5 set the focused criterion's score and move on; ↑/↓ move between criteria; ←/→ change the score;
// ? (or g) opens the criterion's guideline; Enter submits once every criterion has a score.
// Keys typed into the comment or the skip select are left alone (Escape leaves the comment).
(function () {
  "use strict";
  const form = document.getElementById("rating-form");
  if (!form) return;
  const started = Date.now();
  const criteria = Array.from(form.querySelectorAll("fieldset.criterion"));
  const timeField = document.getElementById("time_ms");
  const submitButton = document.getElementById("submit-rating");
  let current = 0;
  let sent = false;

  function radios(index) {
    return Array.from(criteria[index].querySelectorAll("input[type=radio]"));
  }
  function value(index) {
    const checked = radios(index).find((r) => r.checked);
    return checked ? Number(checked.value) : 0;
  }
  function focus(index) {
    if (!criteria.length) return;
    current = Math.max(0, Math.min(criteria.length - 1, index));
    criteria.forEach((c, i) => c.classList.toggle("focused", i === current));
    criteria[current].focus({preventScroll: true});
    criteria[current].scrollIntoView({block: "nearest"});
  }
  function setScore(index, score) {
    const radio = radios(index).find((r) => Number(r.value) === score);
    if (radio && !radio.disabled) radio.checked = true;
  }
  function firstMissing() {
    return criteria.findIndex((_c, i) => value(i) === 0);
  }
  function editing(target) {
    return target && (target.tagName === "TEXTAREA" || target.tagName === "SELECT" ||
      (target.tagName === "INPUT" && target.type !== "radio"));
  }

  criteria.forEach((fieldset, index) => {
    fieldset.addEventListener("click", () => focus(index));
    fieldset.addEventListener("change", () => focus(index));
  });

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (editing(event.target)) {
      if (event.key === "Escape") { event.target.blur(); focus(current); }
      return;
    }
    const key = event.key;
    if (/^[1-5]$/.test(key)) {
      setScore(current, Number(key));
      if (current < criteria.length - 1) focus(current + 1); else if (submitButton) submitButton.focus();
    } else if (key === "ArrowDown") {
      focus(current + 1);
    } else if (key === "ArrowUp") {
      focus(current - 1);
    } else if (key === "ArrowRight" || key === "ArrowLeft") {
      const now = value(current) || 3;
      setScore(current, Math.max(1, Math.min(5, now + (key === "ArrowRight" ? 1 : -1))));
      focus(current);
    } else if (key === "?" || key === "g") {
      const details = criteria[current].querySelector("details");
      if (details) details.open = !details.open;
    } else if (key === "Enter") {
      if (event.target && event.target.tagName === "BUTTON") return; // the button submits itself
      const missing = firstMissing();
      if (missing >= 0) { focus(missing); } else if (submitButton && !sent) { form.requestSubmit(submitButton); }
    } else {
      return;
    }
    event.preventDefault();
  });

  form.addEventListener("submit", (event) => {
    if (sent) { event.preventDefault(); return; } // the server would store it once anyway
    sent = true;
    if (timeField) timeField.value = String(Date.now() - started);
  });

  const missing = firstMissing();
  focus(missing >= 0 ? missing : 0);
  document.body.dataset.ratingReady = "1";
})();
