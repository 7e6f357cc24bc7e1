// Redraws the chat-bubble preview as the template is typed. The server renders it with the same
// function the message log and the inbox use, so what the editor sees is what people receive.
(function () {
  "use strict";
  const preview = document.getElementById("template-preview");
  const form = document.getElementById("messagetemplate_form");
  if (!preview || !form) return;
  let timer = null;
  let latest = 0;

  // Pictures chosen in the form but not saved yet: shown from the browser, never uploaded to draw.
  const pictureUrls = new WeakMap();

  function pictureUrl(file) {
    if (!pictureUrls.has(file)) pictureUrls.set(file, URL.createObjectURL(file));
    return pictureUrls.get(file);
  }

  // The saved samples' pictures, as the page's first drawing shows them (through the staff-only
  // sample view), by file field: kept in every redraw until another file is chosen.
  const savedPictures = new Map();
  for (const picture of preview.querySelectorAll("[data-media-input] img.wa-media-picture")) {
    savedPictures.set(picture.closest("[data-media-input]").dataset.mediaInput, picture.src);
  }

  function showChosenPictures() {
    for (const media of preview.querySelectorAll("[data-media-input]")) {
      const input = form.elements.namedItem(media.dataset.mediaInput);
      const file = input && input.files && input.files[0];
      const saved = savedPictures.get(media.dataset.mediaInput);
      if (file && file.type.startsWith("image/")) {
        media.style.backgroundImage = `url("${pictureUrl(file)}")`;
        media.classList.add("has-picture");
      } else if (!file && saved) {
        media.style.backgroundImage = `url("${saved}")`;
        media.classList.add("has-picture");
      }
    }
  }

  // The saved samples' file names, as the page's first drawing shows them, by file field.
  const savedNames = new Map();
  for (const media of preview.querySelectorAll("[data-media-input]")) {
    const name = media.querySelector(".wa-media-name");
    if (name) savedNames.set(media.dataset.mediaInput, name.textContent);
  }

  function redraw() {
    const data = new FormData(form);
    for (const [key, value] of Array.from(data.entries())) {
      // Files are not needed to draw: the server gets the chosen (or saved) file's name instead.
      if (value instanceof File) data.set(key, value.size ? value.name : savedNames.get(key) || "");
    }
    const request = ++latest;
    fetch(preview.dataset.url, { method: "POST", body: data, credentials: "same-origin" })
      .then((response) => (response.ok ? response.text() : null))
      .then((html) => {
        if (html !== null && request === latest) {
          preview.innerHTML = html;
          showChosenPictures();
        }
      })
      .catch(() => {});
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(redraw, 150);
  }

  form.addEventListener("input", schedule);
  form.addEventListener("change", schedule);
  // Adding or removing a button or card row changes the form without an input event. The preview
  // sits inside the form: its own redraws are not changes of the form (else it redraws forever).
  new MutationObserver((mutations) => {
    if (mutations.some((mutation) => !preview.contains(mutation.target))) schedule();
  }).observe(form, { childList: true, subtree: true });
})();
