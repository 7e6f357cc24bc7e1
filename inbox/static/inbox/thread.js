// The conversation thread (inbox.views_thread): composer tabs, a live bubble preview for each
// kind, Meta's limits as the agent types (the server checks them again), the typing indicator
// (debounced; the server throttles it too), earlier pages, and new messages by polling.
(function () {
  "use strict";

  function escapeHtml(text) {
    const div = document.createElement("div");
    div.textContent = text;
    return div.innerHTML;
  }

  // WhatsApp's *bold*, _italic_, ~strike~ on already-escaped text (the server's renderer is the reference).
  function markup(text) {
    return escapeHtml(text)
      .replace(/(^|\W)\*(\S[^*\n]*?\S|\S)\*(?!\w)/g, "$1<strong>$2</strong>")
      .replace(/(^|\W)_(\S[^_\n]*?\S|\S)_(?!\w)/g, "$1<em>$2</em>")
      .replace(/(^|\W)~(\S[^~\n]*?\S|\S)~(?!\w)/g, "$1<del>$2</del>")
      .replace(/\n/g, "<br>");
  }

  function value(form, name) {
    const field = form.elements[name];
    return field ? field.value.trim() : "";
  }

  const previews = {
    text: (form) => markup(value(form, "body")),
    media: (form) => {
      const file = form.elements.file && form.elements.file.files[0];
      const name = file ? escapeHtml(file.name) : "Choose a file";
      return "📎 " + name + (value(form, "caption") ? "<br>" + markup(value(form, "caption")) : "");
    },
    buttons: (form) => {
      let html = value(form, "header") ? "<strong>" + escapeHtml(value(form, "header")) + "</strong><br>" : "";
      html += markup(value(form, "body"));
      if (value(form, "footer")) html += '<div class="inbox-footer">' + escapeHtml(value(form, "footer")) + "</div>";
      for (let n = 1; n <= 3; n++) {
        if (value(form, "button_" + n)) html += '<div class="inbox-choice">' + escapeHtml(value(form, "button_" + n)) + "</div>";
      }
      return html;
    },
    list: (form) => {
      let html = value(form, "header") ? "<strong>" + escapeHtml(value(form, "header")) + "</strong><br>" : "";
      html += markup(value(form, "body"));
      if (value(form, "footer")) html += '<div class="inbox-footer">' + escapeHtml(value(form, "footer")) + "</div>";
      html += '<div class="inbox-choice">☰ ' + escapeHtml(value(form, "button")) + "</div>";
      for (let n = 1; n <= 10; n++) {
        const title = value(form, "row_" + n);
        if (title) {
          html += '<div class="inbox-row">' + escapeHtml(title) +
            '<span class="inbox-answer-description">' + escapeHtml(value(form, "row_" + n + "_description")) + "</span></div>";
        }
      }
      return html;
    },
  };

  // Meta's limits, shown as the agent types: a field over its maxlength cannot be typed, and
  // empty messages or missing choices disable Send with the reason beside it.
  function problems(kind, form) {
    const found = [];
    if (kind === "text" && !value(form, "body")) found.push("Write a message.");
    if ((kind === "buttons" || kind === "list") && !value(form, "body")) found.push("Write the question.");
    if (kind === "buttons") {
      const titles = [1, 2, 3].map((n) => value(form, "button_" + n)).filter(Boolean);
      if (!titles.length) found.push("Give at least one button (at most three).");
      if (new Set(titles).size !== titles.length) found.push("Each button needs a title of its own.");
    }
    if (kind === "list") {
      const rows = [...Array(10).keys()].map((n) => value(form, "row_" + (n + 1))).filter(Boolean);
      if (!rows.length) found.push("Give at least one row (at most ten).");
      if (!value(form, "button")) found.push("Name the button that opens the list.");
    }
    if (kind === "media") {
      const file = form.elements.file && form.elements.file.files[0];
      if (!file) found.push("Choose a file.");
    }
    return found;
  }

  function refresh(form) {
    const kind = form.dataset.pane;
    const target = form.querySelector("[data-preview]");
    if (target && previews[kind]) target.innerHTML = previews[kind](form);
    let note = form.querySelector(".inbox-problems");
    if (!note) {
      note = document.createElement("p");
      note.className = "inbox-problems";
      form.querySelector("button[type=submit]").before(note);
    }
    const found = problems(kind, form);
    note.textContent = found.join(" ");
    form.querySelector("button[type=submit]").disabled = found.length > 0;
  }

  function showTab(name) {
    document.querySelectorAll("[data-tab]").forEach((tab) => tab.setAttribute("aria-selected", String(tab.dataset.tab === name)));
    document.querySelectorAll(".inbox-pane").forEach((pane) => { pane.hidden = pane.dataset.pane !== name; });
  }

  function csrf() {
    const field = document.querySelector("[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  function setup() {
    const thread = document.getElementById("inbox-thread");
    if (!thread) return;
    const bubbles = document.getElementById("inbox-bubbles");
    const scrollDown = () => { bubbles.scrollTop = bubbles.scrollHeight; };
    scrollDown();

    document.querySelectorAll("[data-tab]").forEach((tab) => tab.addEventListener("click", () => showTab(tab.dataset.tab)));
    document.querySelectorAll("form.inbox-pane").forEach((form) => {
      form.addEventListener("input", () => refresh(form));
      form.addEventListener("change", () => refresh(form));
      refresh(form);
    });
    document.querySelectorAll(".inbox-canned-pick").forEach((button) => button.addEventListener("click", () => {
      const text = document.getElementById("composer-text");
      text.elements.body.value = button.dataset.text;
      showTab("text");
      refresh(text);
      text.elements.body.focus();
    }));
    const chooser = document.getElementById("inbox-template");
    if (chooser) chooser.addEventListener("change", () => chooser.form.submit());

    // The typing indicator: at most one request per 20 s from this page; the server throttles per conversation.
    const typingUrl = thread.dataset.typingUrl;
    let lastTyping = 0;
    if (typingUrl) {
      document.querySelectorAll("form.inbox-pane").forEach((form) => form.addEventListener("input", () => {
        const now = Date.now();
        if (now - lastTyping < 20000) return;
        lastTyping = now;
        fetch(typingUrl, { method: "POST", headers: { "X-CSRFToken": csrf() }, credentials: "same-origin" });
      }));
    }

    function place(item, atTop) {
      const existing = document.getElementById(item.key);
      const holder = document.createElement("div");
      holder.innerHTML = item.html.trim();
      const node = holder.firstElementChild;
      if (existing) { existing.replaceWith(node); return; }
      const empty = bubbles.querySelector(".inbox-empty");
      if (empty) empty.remove();
      if (atTop) bubbles.prepend(node); else bubbles.append(node);
      if (item.side === "out") {
        document.querySelectorAll(".inbox-seen").forEach((field) => {
          if (Number(field.value) < item.pk) field.value = item.pk;
        });
      }
    }

    const earlier = document.getElementById("inbox-earlier");
    if (earlier) earlier.addEventListener("click", async () => {
      const response = await fetch(thread.dataset.earlierUrl + "?before=" + encodeURIComponent(earlier.dataset.before), { credentials: "same-origin" });
      const data = await response.json();
      if (!response.ok) { earlier.textContent = data.error; return; }
      data.bubbles.slice().reverse().forEach((item) => place(item, true));
      if (data.earlier) earlier.dataset.before = data.earlier; else earlier.remove();
    });

    async function poll() {
      const query = new URLSearchParams({
        after_inbound: thread.dataset.afterInbound,
        after_note: thread.dataset.afterNote,
        since: thread.dataset.since,
      });
      try {
        const response = await fetch(thread.dataset.pollUrl + "?" + query, { credentials: "same-origin" });
        if (response.ok) {
          const data = await response.json();
          const atBottom = bubbles.scrollHeight - bubbles.scrollTop - bubbles.clientHeight < 40;
          data.bubbles.forEach((item) => {
            place(item, false);
            if (item.side === "in") thread.dataset.afterInbound = Math.max(Number(thread.dataset.afterInbound), item.pk);
            if (item.side === "note") thread.dataset.afterNote = Math.max(Number(thread.dataset.afterNote), item.pk);
          });
          thread.dataset.since = data.now;
          thread.dataset.polled = String(Number(thread.dataset.polled || 0) + 1);
          if (data.bubbles.length && atBottom) scrollDown();
        }
      } finally {
        setTimeout(poll, Number(thread.dataset.interval) || 4000);
      }
    }
    setTimeout(poll, Number(thread.dataset.interval) || 4000);
  }

  document.addEventListener("DOMContentLoaded", setup);
})();
