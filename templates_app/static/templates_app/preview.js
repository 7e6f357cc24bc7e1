// Redraws the chat-bubble preview as the template is typed. The server renders it with the same
// function the message log and the inbox use, so what the editor sees is what people receive.
(function () {
  "use strict";
  const preview = document.getElementById("template-preview");
  const form = document.getElementById("messagetemplate_form");
  if (!preview || !form) return;
  let timer = null;
  let latest = 0;

  function redraw() {
    const data = new FormData(form);
    for (const [key, value] of Array.from(data.entries())) {
      if (value instanceof File) data.delete(key);  // files are not needed to draw
    }
    const request = ++latest;
    fetch(preview.dataset.url, { method: "POST", body: data, credentials: "same-origin" })
      .then((response) => (response.ok ? response.text() : null))
      .then((html) => {
        if (html !== null && request === latest) preview.innerHTML = html;
      })
      .catch(() => {});
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(redraw, 150);
  }

  form.addEventListener("input", schedule);
  form.addEventListener("change", schedule);
  // Adding or removing a button row changes the form without an input event.
  new MutationObserver(schedule).observe(form, { childList: true, subtree: true });
})();
