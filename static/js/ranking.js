// Ranking page: order the responses best → worst by dragging (SortableJS) or with the keyboard.
// ↑/↓ select a response, Shift+↑/↓ move it, 1–4 put it at that rank, h/s mark it a hard/soft reject,
// Enter submits. The order travels in the hidden "order" field (ids, best first); without JavaScript
// the per-response rank selects are used instead.
(function () {
  "use strict";
  const form = document.getElementById("ranking-form");
  const list = document.getElementById("rank-list");
  if (!form || !list) return;
  const started = Date.now();
  const orderField = document.getElementById("order");
  const allBad = document.getElementById("all_unacceptable");
  const editor = document.getElementById("custom-editor");
  const customText = document.getElementById("custom_text");
  const customFrom = document.getElementById("custom_from");
  const timeField = document.getElementById("time_ms");
  const submitButton = document.getElementById("submit-ranking");
  const texts = JSON.parse(document.getElementById("response-texts").textContent);
  // The order first shown to this annotator: submitting exactly that order needs the explicit confirmation.
  const shown = (list.dataset.shown || "").split(",").filter(Boolean).join(",");
  const confirmBox = document.getElementById("order_confirmed_unchanged");
  const confirmHint = document.getElementById("confirm-hint");
  let sent = false;

  const items = () => Array.from(list.querySelectorAll(".rank-item"));
  orderField.disabled = false;
  form.querySelectorAll(".nojs").forEach((el) => {
    el.hidden = true;
    el.querySelectorAll("select").forEach((s) => { s.disabled = true; });
  });

  function refresh() {
    const all = items();
    orderField.value = all.map((li) => li.dataset.id).join(",");
    const everyoneRejected = allBad && allBad.checked;
    all.forEach((li, index) => {
      li.querySelector(".rank-pos").textContent = String(index + 1);
      const reject = li.querySelector(".reject");
      const show = everyoneRejected || index > 0;
      reject.hidden = !show;
      reject.querySelector("select").disabled = !show || reject.querySelector("select").hasAttribute("data-locked");
      const hard = show && reject.querySelector("select").value === "hard";
      li.classList.toggle("hard", hard);
    });
    if (editor) {
      editor.hidden = !everyoneRejected;
      customText.disabled = !everyoneRejected;
    }
    refreshConfirmation();
  }
  function untouched() {
    return orderField.value === shown;
  }
  function refreshConfirmation() {
    if (!submitButton || !confirmBox) return;
    const blocked = untouched() && !confirmBox.checked;
    submitButton.disabled = blocked;
    if (confirmHint) confirmHint.classList.toggle("msg-error", blocked);
    const wrapper = document.getElementById("confirm-order");
    if (wrapper) wrapper.hidden = !untouched();
  }
  function select(li) {
    items().forEach((x) => x.classList.toggle("selected", x === li));
    if (li) { li.focus({preventScroll: true}); li.scrollIntoView({block: "nearest"}); }
  }
  function move(li, newIndex) {
    const all = items();
    newIndex = Math.max(0, Math.min(all.length - 1, newIndex));
    const others = all.filter((x) => x !== li);
    others.splice(newIndex, 0, li);
    others.forEach((x) => list.appendChild(x));
    refresh();
    select(li);
  }
  function editing(target) {
    return target && (target.tagName === "TEXTAREA" || target.tagName === "SELECT" ||
      (target.tagName === "INPUT" && target.type !== "checkbox"));
  }

  if (window.Sortable) {
    window.Sortable.create(list, {
      animation: 120,
      forceFallback: true, // mouse-event dragging: the same in every browser, and scriptable in tests
      filter: "select, button, a, textarea",
      preventOnFilter: false,
      onStart: (event) => select(event.item),
      onEnd: (event) => { refresh(); select(event.item); },
    });
  }
  items().forEach((li) => {
    li.addEventListener("focus", () => select(li));
    li.querySelector(".hardness").addEventListener("change", refresh);
  });
  if (allBad) allBad.addEventListener("change", () => { refresh(); if (allBad.checked) customText.focus(); });
  if (confirmBox) confirmBox.addEventListener("change", refreshConfirmation);

  form.querySelectorAll(".copy-response").forEach((button) => {
    button.addEventListener("click", () => {
      const id = button.dataset.id;
      if (customText.value.trim() && customText.value !== texts[id]) {
        // Keep what was typed: the copy goes below it instead of replacing it.
        customText.value = customText.value + "\n\n" + texts[id];
      } else {
        customText.value = texts[id];
      }
      customFrom.value = id;
      customText.focus();
    });
  });

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (editing(event.target)) {
      if (event.key === "Escape") { event.target.blur(); select(items()[0]); }
      return;
    }
    const current = document.activeElement && document.activeElement.closest(".rank-item");
    const all = items();
    const index = current ? all.indexOf(current) : -1;
    const key = event.key;
    if (key === "ArrowDown" || key === "ArrowUp") {
      const step = key === "ArrowDown" ? 1 : -1;
      if (event.shiftKey && current) move(current, index + step);
      else select(all[Math.max(0, Math.min(all.length - 1, index + step))] || all[0]);
    } else if (/^[1-9]$/.test(key) && current && Number(key) <= all.length) {
      move(current, Number(key) - 1);
    } else if ((key === "h" || key === "s") && current) {
      const hardness = current.querySelector(".hardness");
      if (!hardness.disabled) { hardness.value = key === "h" ? "hard" : "soft"; refresh(); }
    } else if (key === "c" && confirmBox && untouched()) {
      confirmBox.checked = !confirmBox.checked;
      refreshConfirmation();
    } else if (key === "Enter") {
      if (event.target && (event.target.tagName === "BUTTON" || event.target.tagName === "INPUT")) return;
      if (submitButton && submitButton.disabled && confirmBox) { confirmBox.focus(); }
      else if (submitButton && !sent) form.requestSubmit(submitButton);
    } else {
      return;
    }
    event.preventDefault();
  });

  form.addEventListener("submit", (event) => {
    if (sent) { event.preventDefault(); return; }
    refresh();
    const skipping = event.submitter && event.submitter.value === "skip";
    if (!skipping && confirmBox && untouched() && !confirmBox.checked) {
      event.preventDefault(); // the server would refuse it too
      confirmBox.focus();
      return;
    }
    sent = true;
    if (timeField) timeField.value = String(Date.now() - started);
  });

  form.querySelectorAll(".hardness[disabled]").forEach((s) => s.setAttribute("data-locked", "1"));
  refresh();
  select(items()[0]);
  document.body.dataset.rankingReady = "1";
})();
