// The segment rule editor: a tree of groups and conditions that reads and writes the JSON
// textarea above it (the textarea is what is saved, so the page works without this script),
// with a live count of the draft from the server. The server validates; this only helps type.
(function () {
  "use strict";
  const configNode = document.getElementById("segment-editor-config");
  const root = document.getElementById("segment-editor");
  const textarea = document.querySelector("textarea[name=rules]");
  if (!configNode || !root || !textarea) return;
  const config = JSON.parse(configNode.textContent);
  const status = document.getElementById("segment-editor-status");
  const countLine = document.getElementById("segment-live-count");
  const kinds = new Map(config.kinds.map((kind) => [kind.name, kind]));
  const csrf = document.querySelector("input[name=csrfmiddlewaretoken]");
  let tree = null;
  let error = config.error; // {path, field, message} of the refused rule, or null
  let countTimer = null;
  let latestCount = 0;
  let uid = 0;

  // --- the model ---------------------------------------------------------------------------

  function readTextarea() {
    try {
      const parsed = JSON.parse(textarea.value || "{}");
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed) || !("op" in parsed)) {
        throw new Error('the rules must be a group: {"op": "all", "rules": [ ... ]}');
      }
      if (!Array.isArray(parsed.rules)) parsed.rules = [];
      return parsed;
    } catch (exc) {
      status.textContent = "The editor cannot read the JSON above (" + exc.message + "); fix it there.";
      return null;
    }
  }

  function writeTextarea() {
    textarea.value = JSON.stringify(tree, null, 2);
    scheduleCount();
  }

  function nodeAt(path) {
    let node = tree;
    for (const index of path) node = node.rules[index];
    return node;
  }

  function place(path) {
    if (!path.length) return "All rules";
    const text = path.map((i) => "rule " + (i + 1)).join(" › ");
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  function samePath(a, b) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => v === b[i]);
  }

  // --- drawing -----------------------------------------------------------------------------

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

  function labelled(text, control, help) {
    const id = "segment-field-" + ++uid;
    const target = control.matches("input, select") ? control : control.querySelector("input, select");
    target.id = id;
    const label = el("label", { for: id }, [document.createTextNode(text), control]);
    if (help) label.title = help;
    return label;
  }

  function option(value, text, selected) {
    return el("option", { value: value, selected: selected ? "selected" : null, text: text });
  }

  function button(text, onclick, extra) {
    return el("button", Object.assign({ type: "button", class: "button", onclick: onclick, text: text }, extra || {}));
  }

  function render(focusKey) {
    root.textContent = "";
    root.appendChild(drawGroup(tree, []));
    markError();
    if (focusKey) {
      const target = root.querySelector('[data-focus="' + focusKey + '"]');
      if (target) target.focus();
    }
  }

  function drawGroup(group, path) {
    const key = path.join(".");
    const fieldset = el("fieldset", { class: "segment-group", "data-path": key });
    fieldset.appendChild(el("legend", { text: place(path) + ": a group" }));
    const select = el("select", { "data-focus": key + ":op", "data-field": "op", onchange: (e) => {
      group.op = e.target.value;
      writeTextarea();
    } });
    for (const [value, text] of Object.entries(config.groups)) select.appendChild(option(value, text, group.op === value));
    fieldset.appendChild(el("div", { class: "segment-group-head" }, [labelled("Match", select)]));
    group.rules.forEach((child, index) => {
      const childPath = path.concat(index);
      fieldset.appendChild(child && typeof child === "object" && "op" in child ? drawGroup(child, childPath) : drawCondition(child, childPath));
    });
    const actions = el("div", { class: "segment-actions" }, [
      button("Add condition", () => {
        group.rules.push({ kind: "tag" });
        changed(path.concat(group.rules.length - 1).join(".") + ":kind");
      }, { "data-focus": key + ":add" }),
      button("Add group", () => {
        group.rules.push({ op: "any", rules: [{ kind: "tag" }] });
        changed(path.concat(group.rules.length - 1).join(".") + ":op");
      }),
    ]);
    if (path.length) actions.appendChild(button("Remove group", () => remove(path), { "aria-label": "Remove " + place(path) }));
    fieldset.appendChild(actions);
    return fieldset;
  }

  function drawCondition(condition, path) {
    const key = path.join(".");
    const box = el("div", { class: "segment-condition", role: "group", "aria-label": place(path), "data-path": key });
    if (!condition || typeof condition !== "object") {
      box.appendChild(el("span", { text: place(path) + " is neither a condition nor a group; fix it in the JSON." }));
      return box;
    }
    const kindSelect = el("select", { "data-focus": key + ":kind", "data-field": "kind", onchange: (e) => {
      const fresh = { kind: e.target.value };
      nodeAt(path.slice(0, -1)).rules[path[path.length - 1]] = fresh;
      changed(key + ":kind");
    } });
    if (!kinds.has(condition.kind)) kindSelect.appendChild(option(condition.kind || "", "(unknown: " + condition.kind + ")", true));
    for (const kind of config.kinds) kindSelect.appendChild(option(kind.name, kind.label, kind.name === condition.kind));
    box.appendChild(el("strong", { text: place(path) }));
    box.appendChild(labelled("Condition", kindSelect));
    const kind = kinds.get(condition.kind);
    if (kind) {
      for (const spec of kind.fields) {
        const control = drawField(condition, spec, key);
        // The value's need depends on the operator: drawValue leaves it out when none is taken.
        const optional = !spec.required && spec.type !== "value";
        if (control) box.appendChild(labelled(spec.label + (optional ? " (optional)" : ""), control, spec.help));
      }
      if (kind.help) box.title = kind.help;
    }
    box.appendChild(button("Remove", () => remove(path), { "aria-label": "Remove " + place(path) }));
    return box;
  }

  function drawField(condition, spec, key) {
    const focus = key + ":" + spec.name;
    const set = (value) => {
      if (value === "" || value === null || (Array.isArray(value) && !value.length)) delete condition[spec.name];
      else condition[spec.name] = value;
      writeTextarea();
    };
    const current = condition[spec.name];
    const common = { "data-focus": focus, "data-field": spec.name };
    if (spec.type === "value") return drawValue(condition, common);
    if (spec.type === "choices") {
      const chosen = new Set(Array.isArray(current) ? current : []);
      const select = el("select", Object.assign({ multiple: "multiple", size: 6, onchange: (e) => set(Array.from(e.target.selectedOptions, (o) => o.value)) }, common));
      for (const [value, text] of spec.choices) select.appendChild(option(value, value === text ? value : text + " (" + value + ")", chosen.has(value)));
      // A long list scrolls its choices out of sight: say what is chosen.
      const summary = el("span", { class: "help", text: chosen.size ? "Chosen: " + Array.from(chosen).join(", ") : "None chosen yet" });
      select.addEventListener("change", () => {
        const values = Array.from(select.selectedOptions, (o) => o.value);
        summary.textContent = values.length ? "Chosen: " + values.join(", ") : "None chosen yet";
      });
      return el("span", { class: "segment-multi" }, [select, summary]);
    }
    if (spec.choices) {
      // A choice, a reference (an id) or text with suggestions (custom fields): a select.
      const rerender = spec.name === "key";
      const select = el("select", Object.assign({ onchange: (e) => {
        const value = e.target.value;
        set(spec.type === "ref" && value !== "" ? Number(value) : value);
        if (rerender) render(focus);
      } }, common));
      select.appendChild(option("", spec.required ? "— pick one —" : "—", current === undefined));
      const values = spec.choices.map(([value]) => String(value));
      if (current !== undefined && !values.includes(String(current))) select.appendChild(option(String(current), String(current) + " (not available)", true));
      for (const [value, text] of spec.choices) select.appendChild(option(String(value), text, String(value) === String(current)));
      return select;
    }
    // Whole numbers in a text input (inputmode brings the digit keyboard): a number input would
    // show "" for "abc", and the refusal marking it would point at an empty box.
    const type = spec.type === "date" ? "date" : "text";
    const input = el("input", Object.assign({ type: type, inputmode: spec.type === "int" ? "numeric" : null, value: current === undefined ? "" : String(current), class: spec.type === "text" ? "vTextField" : null }, common));
    input.addEventListener("input", (e) => {
      const raw = e.target.value.trim();
      set(spec.type === "int" && /^\d+$/.test(raw) ? Number(raw) : raw);
    });
    return input;
  }

  function drawValue(condition, common) {
    // The custom field's value: its input follows the field's type and the operator.
    const type = config.attributeTypes[condition.key];
    const operator = condition.operator;
    if (!type || !operator || config.noValue.includes(operator)) return null;
    const write = (value) => {
      if (value === "" || (Array.isArray(value) && !value.length)) delete condition.value;
      else condition.value = value;
      writeTextarea();
    };
    const typed = (text) => (type === "number" && text !== "" && !isNaN(Number(text)) ? Number(text) : text);
    if (type === "boolean") {
      const select = el("select", Object.assign({ onchange: (e) => write(e.target.value === "" ? "" : e.target.value === "true") }, common));
      select.appendChild(option("", "— pick one —", condition.value === undefined));
      select.appendChild(option("true", "yes", condition.value === true));
      select.appendChild(option("false", "no", condition.value === false));
      return select;
    }
    if (operator === "in") {
      const shown = Array.isArray(condition.value) ? condition.value.join(", ") : condition.value === undefined ? "" : String(condition.value);
      const input = el("input", Object.assign({ type: "text", value: shown, class: "vTextField", placeholder: "values, separated by commas" }, common));
      input.addEventListener("input", (e) => write(e.target.value.split(",").map((v) => v.trim()).filter((v) => v).map(typed)));
      return input;
    }
    // A number in a text input, as above: what was typed stays visible when it is refused.
    const input = el("input", Object.assign({ type: type === "date" ? "date" : "text", inputmode: type === "number" ? "decimal" : null, value: condition.value === undefined ? "" : String(condition.value) }, common));
    input.addEventListener("input", (e) => write(typed(e.target.value.trim())));
    return input;
  }

  function remove(path) {
    const parent = nodeAt(path.slice(0, -1));
    parent.rules.splice(path[path.length - 1], 1);
    changed(path.slice(0, -1).join(".") + ":add");
  }

  function changed(focusKey) {
    error = null; // the tree moved: the refused rule's path no longer points at it
    writeTextarea();
    render(focusKey);
  }

  // --- the refused rule ---------------------------------------------------------------------

  function markError() {
    if (!error || !Array.isArray(error.path)) return;
    const node = root.querySelector('[data-path="' + error.path.join(".") + '"]');
    if (!node) return;
    node.classList.add("segment-rule-error");
    const field = error.field ? node.querySelector(':scope > label [data-field="' + error.field + '"], :scope > .segment-group-head [data-field="' + error.field + '"]') : null;
    if (field) {
      field.classList.add("segment-field-error");
      field.setAttribute("aria-invalid", "true");
    }
    // The whole tree refused ("the group is empty"): the form's own error above says it once.
    if (!error.path.length) return;
    const id = "segment-rule-message-" + error.path.join("-");
    node.appendChild(el("p", { class: "segment-rule-message", id: id, text: error.message }));
    (field || node).setAttribute("aria-describedby", id);
  }

  // --- the live count -----------------------------------------------------------------------

  function scheduleCount() {
    clearTimeout(countTimer);
    if (tree && Array.isArray(tree.rules) && !tree.rules.length) {
      // Nothing to count yet (a new segment): a hint, not the refusal saving would give.
      ++latestCount;
      countLine.textContent = "Add a rule to see how many contacts match.";
      countLine.classList.remove("segment-count-error");
      return;
    }
    countTimer = setTimeout(count, 400);
  }

  function count() {
    const request = ++latestCount;
    const body = new FormData();
    body.append("rules", textarea.value);
    countLine.textContent = "Counting…";
    countLine.classList.remove("segment-count-error");
    fetch(config.countUrl, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrf ? csrf.value : "" },
    })
      .then((response) => response.json())
      .then((answer) => {
        if (request !== latestCount) return; // an older draft's answer
        if ("count" in answer) {
          countLine.textContent = answer.count.toLocaleString() + (answer.count === 1 ? " contact matches" : " contacts match") + " these rules (not saved yet).";
          if (error) {
            error = null;
            render(null);
          }
        } else {
          countLine.textContent = answer.error;
          countLine.classList.add("segment-count-error");
          error = { path: answer.path, field: answer.field, message: answer.error };
          const active = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.focus : null;
          render(active);
        }
      })
      .catch(() => {
        if (request === latestCount) countLine.textContent = "The count is not available right now.";
      });
  }

  // --- start -------------------------------------------------------------------------------

  function load() {
    const parsed = readTextarea();
    if (parsed === null) {
      root.textContent = "";
      return false;
    }
    status.textContent = "";
    tree = parsed;
    render(null);
    return true;
  }

  let typing = null;
  textarea.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => {
      error = null;
      if (load()) scheduleCount();
    }, 400);
  });
  root.dataset.ready = "true";
  if (load() && !error) scheduleCount();
  if (error) {
    const marked = root.querySelector(".segment-rule-error");
    if (marked) marked.scrollIntoView({ block: "center" });
  }
})();
