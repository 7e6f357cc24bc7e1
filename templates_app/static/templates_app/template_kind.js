// Shows the parts of the editor the chosen format uses. A carousel has no header, footer or buttons
// of its own (its cards carry them); a limited-time offer has an offer line and no footer; only a
// carousel has cards. Hidden fields keep what was typed, and the server checks what is sent: a part
// that holds an error stays shown, so no message is ever hidden.
(function () {
  "use strict";
  const form = document.getElementById("messagetemplate_form");
  if (!form) return;
  const select = document.getElementById("id_kind");
  const panel = document.getElementById("template-preview-panel");

  const USES = {
    STANDARD: { header: true, footer: true, buttons: true, offer: false, cards: false },
    CAROUSEL: { header: false, footer: false, buttons: false, offer: false, cards: true },
    LIMITED_TIME_OFFER: { header: true, footer: false, buttons: true, offer: true, cards: false },
  };

  function parts() {
    return {
      header: form.querySelector("fieldset.template-header"),
      footer: form.querySelector(".form-row.field-footer, .field-footer"),
      buttons: document.getElementById("buttons-group"),
      offer: form.querySelector("fieldset.offer-options"),
      cards: document.getElementById("cards-group"),
    };
  }

  function hasErrors(element) {
    return Boolean(element.querySelector(".errorlist li, .errornote"));
  }

  function kind() {
    const value = select ? select.value : panel && panel.dataset.kind;
    return USES[value] ? value : "STANDARD";
  }

  function apply() {
    const uses = USES[kind()];
    for (const [name, element] of Object.entries(parts())) {
      if (!element) continue;
      const hide = !uses[name] && !hasErrors(element);
      element.hidden = hide;
      element.style.display = hide ? "none" : "";  // the admin's CSS may set a display of its own
    }
    form.dataset.templateKind = kind();
  }

  if (select) select.addEventListener("change", apply);
  apply();
})();
