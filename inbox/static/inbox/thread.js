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
      const caption = value(form, "caption") ? "<br>" + markup(value(form, "caption")) : "";
      if (file && /^image\/(jpeg|png|webp)$/.test(file.type) && !fileProblem(form.elements.file, file)) {
        if (form.dataset.previewFile !== file.name + file.size) {
          if (form.dataset.previewUrl) URL.revokeObjectURL(form.dataset.previewUrl);
          form.dataset.previewUrl = URL.createObjectURL(file);
          form.dataset.previewFile = file.name + file.size;
        }
        return '<img class="inbox-media" alt="" src="' + form.dataset.previewUrl + '">' + caption;
      }
      return "📎 " + (file ? escapeHtml(file.name) : "Choose a file") + caption;
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

  function fieldLabel(field) {
    const label = field.labels && field.labels[0];
    return label ? label.textContent.replace(/:\s*$/, "").trim() : field.name;
  }

  // Meta's limits on each field's length (data-max): named as the agent types, never cut silently.
  function tooLong(form) {
    return [...form.querySelectorAll("[data-max]")]
      .filter((field) => field.value.trim().length > Number(field.dataset.max))
      .map((field) => fieldLabel(field) + " has " + field.value.trim().length + " characters; WhatsApp allows at most " + field.dataset.max + ".");
  }

  function sizeText(bytes) {
    return bytes >= 1048576 ? (bytes / 1048576).toFixed(1) + " MB" : Math.round(bytes / 1024) + " KB";
  }

  // The file's type (by its name) and size against Meta's limits; the server reads its bytes again.
  function fileProblem(input, file) {
    const limits = JSON.parse(input.dataset.limits || "{}");
    const dot = file.name.lastIndexOf(".");
    const extension = dot >= 0 ? file.name.slice(dot).toLowerCase() : "";
    const limit = limits[extension];
    if (!limit) return "WhatsApp does not take “" + file.name + "”: send " + Object.keys(limits).join(", ") + ".";
    if (!file.size) return "The file “" + file.name + "” is empty.";
    if (file.size > limit.max) {
      return "The file “" + file.name + "” is " + sizeText(file.size) + "; WhatsApp takes " + limit.label + "s of at most " + sizeText(limit.max) + ".";
    }
    return "";
  }

  // What keeps Send disabled, with the reason beside it: empty messages, missing choices, limits.
  function problems(kind, form) {
    const found = tooLong(form);
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
      if (new Set(rows).size !== rows.length) found.push("Each row needs a title of its own.");
      for (let n = 1; n <= 10; n++) {
        if (value(form, "row_" + n + "_description") && !value(form, "row_" + n)) found.push("Row " + n + " has a description but no title.");
      }
      if (!value(form, "button")) found.push("Name the button that opens the list.");
    }
    if (kind === "media") {
      const file = form.elements.file && form.elements.file.files[0];
      if (!file) found.push("Choose a file.");
      else if (fileProblem(form.elements.file, file)) found.push(fileProblem(form.elements.file, file));
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
      note.setAttribute("aria-live", "polite");
      form.querySelector("button[type=submit]").before(note);
    }
    const found = kind ? problems(kind, form) : tooLong(form);
    note.textContent = found.join(" ");
    // Before the agent has typed anything, what is missing is a hint, not an error.
    note.classList.toggle("inbox-hint", !form.dataset.touched);
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
    document.querySelectorAll("form.inbox-pane, #inbox-note-form").forEach((form) => {
      form.addEventListener("input", () => { form.dataset.touched = "true"; refresh(form); });
      form.addEventListener("change", () => refresh(form));
      refresh(form);
    });
    document.querySelectorAll(".inbox-canned-pick").forEach((button) => button.addEventListener("click", () => {
      // Inserted at the cursor (replacing only a selection), so nothing the agent typed is lost.
      const text = document.getElementById("composer-text");
      const body = text.elements.body;
      const start = body.selectionStart ?? body.value.length;
      const end = body.selectionEnd ?? body.value.length;
      const before = body.value.slice(0, start);
      const gap = before && !/\s$/.test(before) ? " " : "";
      body.setRangeText(gap + button.dataset.text, start, end, "end");
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

    // The endpoints answer JSON; anything else is the admin's login page (the session ended) or its
    // refusal (access withdrawn): polling stops, and the page says so instead of failing quietly.
    let stopped = false;
    function sessionEnded() {
      stopped = true;
      if (document.getElementById("inbox-stopped")) return;
      const note = document.createElement("p");
      note.id = "inbox-stopped";
      note.className = "errornote";
      note.setAttribute("role", "alert");
      note.textContent = "New messages no longer arrive here: you were logged out or lost access. Reload the page.";
      thread.before(note);
    }
    async function getJson(url) {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      const type = response.headers.get("Content-Type") || "";
      if (response.redirected || !type.startsWith("application/json")) { sessionEnded(); return null; }
      return { ok: response.ok, data: await response.json() };
    }

    const earlier = document.getElementById("inbox-earlier");
    if (earlier) earlier.addEventListener("click", async () => {
      const answer = await getJson(thread.dataset.earlierUrl + "?before=" + encodeURIComponent(earlier.dataset.before));
      if (!answer) return;
      if (!answer.ok) { earlier.textContent = answer.data.error; return; }
      answer.data.bubbles.slice().reverse().forEach((item) => place(item, true));
      if (answer.data.earlier) earlier.dataset.before = answer.data.earlier; else earlier.remove();
    });

    async function poll() {
      const query = new URLSearchParams({
        after_inbound: thread.dataset.afterInbound,
        after_note: thread.dataset.afterNote,
        since: thread.dataset.since,
      });
      try {
        const answer = await getJson(thread.dataset.pollUrl + "?" + query);
        if (answer && answer.ok) {
          const data = answer.data;
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
      } catch (error) {
        // The network or the server failed this once: the next poll asks again.
      } finally {
        if (!stopped) setTimeout(poll, Number(thread.dataset.interval) || 4000);
      }
    }
    setTimeout(poll, Number(thread.dataset.interval) || 4000);
  }

  document.addEventListener("DOMContentLoaded", setup);
})();
