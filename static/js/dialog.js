// Live dialog page: streams the three answers of the current turn over Server-Sent Events, swaps in
// each final answer (sanitised Markdown rendered by the server) when it is complete, and handles the
// keyboard (1/2/3 choose a column, e copies the chosen column into the editor, Ctrl+Enter saves).
// Streamed text is untrusted: it is only ever inserted as text nodes, never as HTML.
(() => {
  "use strict";
  const root = document.getElementById("dialog");
  if (!root) return;
  const turn = root.querySelector("[data-current-turn]");
  const form = document.getElementById("decide-form");
  const editor = document.getElementById("custom-text");
  const customFrom = document.getElementById("custom-from");
  const customChoice = document.getElementById("choice-custom");
  const submit = document.getElementById("decide-submit");
  const shownAt = Date.now();
  let source = null;
  let ended = false;
  let reconnects = 0;

  const columns = () => (turn ? Array.from(turn.querySelectorAll(".dlg-candidate")) : []);
  const column = (seat) => columns().find((c) => c.dataset.seat === seat);
  const inFlight = () => columns().some((c) => c.dataset.status === "pending" || c.dataset.status === "streaming");

  function refreshSubmit() {
    if (submit) submit.disabled = inFlight();
  }

  function setStatus(col, status) {
    col.dataset.status = status;
    col.className = col.className.replace(/\bstatus-\w+/, "status-" + status);
  }

  function onStart(data) {
    const col = column(data.seat);
    if (!col) return;
    setStatus(col, "streaming");
    const body = col.querySelector(".dlg-stream");
    const raw = col.querySelector(".dlg-raw");
    if (body) body.textContent = "";
    if (raw) raw.textContent = "";
    refreshSubmit();
  }

  function onDelta(data) {
    const col = column(data.seat);
    if (!col) return;
    if (col.dataset.status !== "streaming") setStatus(col, "streaming");
    const body = col.querySelector(".dlg-stream");
    if (body) body.appendChild(document.createTextNode(data.delta));
    const raw = col.querySelector(".dlg-raw");
    if (raw) raw.appendChild(document.createTextNode(data.delta));
    const copy = col.querySelector(".dlg-copy");
    if (copy) copy.disabled = false;
    if (data.t) {
      // First token of this seat: kept for bench/dialog_stream.py (server receive time vs. ours).
      window.__dialogFirstTokens = window.__dialogFirstTokens || [];
      window.__dialogFirstTokens.push({ seat: data.seat, serverMs: data.t, clientMs: Date.now() });
    }
  }

  function replaceColumn(seat) {
    const col = column(seat);
    if (!col || !window.htmx) return Promise.resolve();
    // source: the column itself, so three answers finishing together are three independent requests
    // (htmx keeps only the last queued request per source element).
    return htmx.ajax("GET", col.dataset.url, { source: col, target: col, swap: "outerHTML" }).then(refreshSubmit);
  }

  function onSettled(data) {
    const col = column(data.seat);
    if (col) setStatus(col, data.status);
    refreshSubmit();
    replaceColumn(data.seat);
  }

  function openStream() {
    if (!turn || source || !inFlight()) return;
    ended = false;
    source = new EventSource(turn.dataset.streamUrl);
    const handle = (fn) => (event) => fn(JSON.parse(event.data));
    source.addEventListener("start", handle(onStart));
    source.addEventListener("delta", handle(onDelta));
    source.addEventListener("done", handle(onSettled));
    source.addEventListener("failed", handle(onSettled));
    source.addEventListener("end", () => {
      ended = true;
      source.close();
      source = null;
      reconnects = 0;
      refreshSubmit();
      if (inFlight()) setTimeout(openStream, 500);
    });
    source.onerror = () => {
      // Connection lost (server restart, network). The server put unfinished answers back in the
      // queue, so opening the stream again resumes them.
      if (ended || !source) return;
      source.close();
      source = null;
      if (reconnects++ < 10) setTimeout(openStream, Math.min(500 * reconnects, 5000));
    };
  }

  function selectedSeat() {
    const checked = form ? document.querySelector('input[name="choice"][form="decide-form"]:checked') : null;
    return checked ? checked.value : null;
  }

  function highlight(seat) {
    columns().forEach((c) => c.classList.toggle("selected", c.dataset.seat === seat));
  }

  function choosePosition(position) {
    const col = columns().find((c) => c.dataset.position === String(position));
    if (!col) return;
    const radio = col.querySelector('input[name="choice"]');
    if (radio && !radio.disabled) {
      radio.checked = true;
      highlight(col.dataset.seat);
    }
  }

  function copyToEditor(seat) {
    const col = column(seat);
    if (!col || !editor) return;
    const raw = col.querySelector(".dlg-raw");
    editor.value = raw ? raw.textContent : "";
    if (customFrom) customFrom.value = seat;
    if (customChoice) customChoice.checked = true;
    highlight(null);
    editor.focus();
    editor.setSelectionRange(0, 0);
    editor.scrollTop = 0;
  }

  if (turn) {
    turn.addEventListener("click", (event) => {
      const copy = event.target.closest(".dlg-copy");
      if (copy) copyToEditor(copy.dataset.seat);
    });
    turn.addEventListener("change", (event) => {
      if (event.target.name === "choice" && event.target.value !== "custom") highlight(event.target.value);
    });
  }
  if (editor) {
    editor.addEventListener("input", () => {
      if (customChoice && editor.value.trim()) customChoice.checked = true;
      highlight(null);
    });
  }
  if (form) {
    form.addEventListener("submit", (event) => {
      if (inFlight()) {
        event.preventDefault();
        return;
      }
      form.elements.time_ms.value = String(Date.now() - shownAt);
      if (submit) setTimeout(() => { submit.disabled = true; }, 0); // a second click cannot post again
    });
  }

  document.addEventListener("keydown", (event) => {
    if (!form) return;
    const tag = (event.target.tagName || "").toLowerCase();
    const typing = tag === "textarea" || tag === "input" || tag === "select" || event.target.isContentEditable;
    if (typing) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && event.target === editor) {
        event.preventDefault();
        form.requestSubmit();
      }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (["1", "2", "3"].includes(event.key)) {
      event.preventDefault();
      choosePosition(Number(event.key));
    } else if (event.key === "e") {
      const seat = selectedSeat() || (columns()[0] && columns()[0].dataset.seat);
      if (seat && seat !== "custom") {
        event.preventDefault();
        copyToEditor(seat);
      }
    } else if (event.key === "Enter" && event.ctrlKey) {
      form.requestSubmit();
    }
  });

  // A retried column comes back from the server as "pending": stream it.
  document.body.addEventListener("htmx:afterSettle", () => {
    refreshSubmit();
    openStream();
  });

  refreshSubmit();
  openStream();
})();
