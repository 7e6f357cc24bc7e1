// The campaign form's bindings editor: one row per value the chosen template takes (each variable,
// each button's link suffix or coupon code, a location's place, an offer's end, and each carousel
// card's image or video link, text variables and link suffixes), reading and writing the JSON
// textarea (the textarea is what is saved, so the page works without this script). A slot's
// binding sits at its section's dotted path, then its name: "cards.1.body" + "2" is
// bindings.cards["1"].body["2"]. It asks the server for the template's
// values when the template changes, shows the header media fields only for a media template, and
// the schedule fields that fit the chosen schedule. The server checks everything again.
(function () {
  "use strict";
  const configNode = document.getElementById("campaign-editor-config");
  const textarea = document.querySelector("textarea[name=bindings]");
  const templateSelect = document.querySelector("select[name=template]");
  if (!configNode || !textarea || !templateSelect) return;
  const config = JSON.parse(configNode.textContent);
  const bindingsRow = textarea.closest(".form-row") || textarea.parentNode;
  const root = document.createElement("div");
  root.id = "campaign-bindings-editor";
  root.setAttribute("aria-live", "polite");
  bindingsRow.parentNode.insertBefore(root, bindingsRow);
  const status = document.createElement("p");
  status.id = "campaign-editor-status";
  status.className = "help";
  root.before(status);
  let slots = [];
  let bindings = readTextarea() || {};
  let uid = 0;

  function readTextarea() {
    try {
      const parsed = JSON.parse(textarea.value || "{}");
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("not an object");
      return parsed;
    } catch (exc) {
      status.textContent = "The editor cannot read the JSON below (" + exc.message + "); fix it there, or pick the template again to start over.";
      return null;
    }
  }

  // Values that are not a text of the message: a text or a custom field, never a format.
  const VALUE_KINDS = { link: "e.g. https://shop.example/card.jpg", datetime: "e.g. 2026-12-31T23:59 or 2026-12-31", latitude: "e.g. 52.52", longitude: "e.g. 13.405" };
  const OPTIONAL = ["location.name", "location.address"];

  function pathOf(slot) {
    return slot.section.split(".").concat([slot.name]);
  }

  function isObject(value) {
    return value !== null && typeof value === "object" && !Array.isArray(value);
  }

  function getEntry(tree, slot) {
    let node = tree;
    for (const key of pathOf(slot)) {
      if (!isObject(node)) return undefined;
      node = node[key];
    }
    return isObject(node) ? node : undefined;
  }

  function setEntry(tree, slot, entry) {
    const path = pathOf(slot);
    let node = tree;
    for (const key of path.slice(0, -1)) {
      if (!isObject(node[key])) node[key] = {};
      node = node[key];
    }
    node[path[path.length - 1]] = entry;
  }

  function writeTextarea() {
    // Only the template's own values are written: bindings of another template's variables go.
    const out = {};
    for (const slot of slots) {
      const entry = getEntry(bindings, slot);
      if (entry) setEntry(out, slot, entry);
    }
    bindings = out;
    textarea.value = JSON.stringify(out, null, 2);
  }

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (value !== null && value !== undefined && value !== false) node.setAttribute(key, value);
    }
    for (const child of children || []) if (child) node.appendChild(child);
    return node;
  }

  function option(value, text, selected) {
    return el("option", { value: value, selected: selected ? "selected" : null, text: text });
  }

  function labelled(text, control) {
    const id = "campaign-binding-" + ++uid;
    control.id = id;
    return el("label", { for: id, class: "campaign-binding-control" }, [el("span", { text: text }), control]);
  }

  function entryFor(slot) {
    // An unbound value stays unbound (the server names it) until a source is chosen: a guessed
    // binding, or the template's sample as a fixed text, would go out to real people unnoticed.
    return getEntry(bindings, slot) || { source: "", value: "", fallback: "", format: "" };
  }

  function keep(slot, entry) {
    setEntry(bindings, slot, entry);
    writeTextarea();
  }

  function drawValue(slot, entry, cell) {
    cell.textContent = "";
    let control;
    const set = (value) => {
      entry.value = value;
      keep(slot, entry);
    };
    if (!entry.source) {
      cell.appendChild(el("span", { class: "campaign-binding-unbound", text: "Not bound yet: choose where its value comes from." }));
      return;
    }
    if (entry.source === "field" || entry.source === "attribute") {
      const choices = entry.source === "field" ? config.fields : config.attributes;
      control = el("select", { "data-name": slot.section + "." + slot.name + ".value", onchange: (e) => set(e.target.value) });
      control.appendChild(option("", "— pick one —", !entry.value));
      const known = choices.map(([value]) => value);
      if (entry.value && !known.includes(entry.value)) control.appendChild(option(entry.value, entry.value + " (unknown)", true));
      for (const [value, text] of choices) control.appendChild(option(value, text, value === entry.value));
    } else {
      const hint = slot.sample ? "e.g. " + slot.sample : VALUE_KINDS[slot.kind] || "";
      control = el("input", { type: "text", class: "vTextField", value: entry.value || "", placeholder: hint, "data-name": slot.section + "." + slot.name + ".value" });
      control.addEventListener("input", (e) => set(e.target.value));
    }
    cell.appendChild(labelled(entry.source === "literal" ? "Text" : entry.source === "field" ? "Contact field" : "Custom field", control));
  }

  function drawFormat(slot, entry, cell) {
    cell.textContent = "";
    if (slot.kind in VALUE_KINDS) return; // links, dates and coordinates are sent as they are
    const isDate = (entry.format || "").startsWith("date:");
    const select = el("select", { "data-name": slot.section + "." + slot.name + ".format", onchange: (e) => {
      entry.format = e.target.value === "date:" ? "date:%d.%m.%Y" : e.target.value;
      keep(slot, entry);
      drawFormat(slot, entry, cell);
    } });
    for (const [value, text] of config.formats) select.appendChild(option(value, text, value === "date:" ? isDate : value === (entry.format || "")));
    cell.appendChild(labelled("Format", select));
    if (isDate) {
      const pattern = el("input", { type: "text", size: 12, value: entry.format.slice(5), title: "strftime: %d day, %m month, %Y year, %B month name", "data-name": slot.section + "." + slot.name + ".date" });
      pattern.addEventListener("input", (e) => {
        entry.format = "date:" + e.target.value;
        keep(slot, entry);
      });
      cell.appendChild(labelled("Date pattern", pattern));
    }
  }

  function drawRow(slot, languages) {
    const entry = entryFor(slot);
    const where = slot.languages.length < languages.length ? " — only in " + slot.languages.join(", ") : "";
    const valueCell = el("div", { class: "campaign-binding-value" });
    const formatCell = el("div", { class: "campaign-binding-format" });
    const source = el("select", { "data-name": slot.section + "." + slot.name + ".source", onchange: (e) => {
      entry.source = e.target.value;
      entry.value = entry.source === "field" ? "first_name" : "";
      keep(slot, entry);
      drawValue(slot, entry, valueCell);
    } });
    if (!entry.source) source.appendChild(option("", "— choose —", true));
    const sources = [["field", "a contact field"], ["attribute", "a custom field"], ["literal", "a fixed text"]];
    for (const [value, text] of sources) {
      if (value === "field" && slot.kind in VALUE_KINDS && entry.source !== "field") continue;
      source.appendChild(option(value, text, value === entry.source));
    }
    const fallback = el("input", { type: "text", class: "vTextField", value: entry.fallback || "", placeholder: "none: leave such contacts out", "data-name": slot.section + "." + slot.name + ".fallback" });
    fallback.addEventListener("input", (e) => {
      entry.fallback = e.target.value;
      keep(slot, entry);
    });
    drawValue(slot, entry, valueCell);
    drawFormat(slot, entry, formatCell);
    const optional = OPTIONAL.includes(slot.section + "." + slot.name) ? " (optional)" : "";
    const title = slot.label.charAt(0).toUpperCase() + slot.label.slice(1) + optional;
    return el("div", { class: "campaign-binding", role: "group", "aria-label": title, "data-slot": slot.section + "." + slot.name }, [
      el("strong", { text: title + where + (slot.sample ? " (sample: " + slot.sample + ")" : "") }),
      el("div", { class: "campaign-binding-controls" }, [
        labelled("Value from", source),
        valueCell,
        labelled("Fallback if empty", fallback),
        formatCell,
      ]),
    ]);
  }

  function draw(data) {
    root.textContent = "";
    slots = data.slots;
    if (data.problem) root.appendChild(el("p", { class: "errornote", text: data.problem }));
    const languages = data.languages;
    root.appendChild(el("p", { class: "help", text: "Languages: " + languages.join(", ") + " (default " + data["default"] + "). Each contact gets their own language where it is approved, else the default." }));
    if (!slots.length) root.appendChild(el("p", { text: "This template takes no values." }));
    for (const slot of slots) root.appendChild(drawRow(slot, languages));
    // Tidy the JSON to this template's values, unless it is unreadable: then what was typed stays.
    if (readTextarea() !== null) writeTextarea();
    showMedia(data.media);
  }

  function showMedia(kind) {
    const fieldset = document.querySelector("fieldset.campaign-media");
    if (!fieldset) return;
    fieldset.hidden = !kind;
    const note = fieldset.querySelector(".campaign-media-kind") || el("p", { class: "campaign-media-kind help" });
    note.textContent = kind ? "This template's header is " + (kind === "IMAGE" ? "an image" : "a " + kind.toLowerCase()) + "." : "";
    if (!note.parentNode) fieldset.insertBefore(note, fieldset.children[1] || null);
    if (!kind) {
      const source = fieldset.querySelector("select[name=header_media_source]");
      if (source) source.value = "";
    }
    showMediaFields();
  }

  function showMediaFields() {
    const source = document.querySelector("select[name=header_media_source]");
    if (!source) return;
    const link = document.querySelector(".form-row.field-header_media_link, .field-header_media_link");
    const file = document.querySelector(".form-row.field-header_media_file, .field-header_media_file");
    if (link) link.hidden = source.value !== "link";
    if (file) file.hidden = source.value !== "upload";
  }

  function showSchedule() {
    const kind = document.querySelector("select[name=schedule_kind]");
    if (!kind) return;
    const show = { send_at: kind.value === "at", local_date: kind.value === "local", local_time: kind.value === "local" };
    for (const [name, visible] of Object.entries(show)) {
      const row = document.querySelector(".field-" + name);
      if (row) row.hidden = !visible;
    }
  }

  function load() {
    const id = templateSelect.value;
    if (!id) {
      root.textContent = "";
      root.appendChild(el("p", { class: "help", text: "Choose a template: its variables appear here." }));
      showMedia("");
      return;
    }
    status.textContent = "Loading the template's variables…";
    fetch(config.variablesUrl + "?template=" + encodeURIComponent(id), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((response) => response.json().then((data) => ({ ok: response.ok, data: data })))
      .then(({ ok, data }) => {
        status.textContent = ok ? "" : data.error || "The template's variables could not be loaded.";
        if (ok) draw(data);
      })
      .catch(() => {
        status.textContent = "The template's variables could not be loaded; edit the JSON below.";
      });
  }

  templateSelect.addEventListener("change", () => {
    bindings = readTextarea() || {};
    load();
  });
  textarea.addEventListener("change", () => {
    const parsed = readTextarea();
    if (parsed) {
      bindings = parsed;
      status.textContent = "";
      load();
    }
  });
  const source = document.querySelector("select[name=header_media_source]");
  if (source) source.addEventListener("change", showMediaFields);
  const kind = document.querySelector("select[name=schedule_kind]");
  if (kind) kind.addEventListener("change", showSchedule);
  showSchedule();
  showMediaFields();
  load();
})();
