// The conversation list without a reload (inbox/views_list.py). On the first page it asks the poll
// endpoint every few seconds for the rows changed since its last look. A changed row is redrawn —
// in its place by (last activity, id), so one with new activity moves to the top — unless the page
// already shows that version of it; a row that entered the filter is added (unless it sorts below
// the last row of a page that has older ones: it belongs there); a row that left the filter
// (resolved under "Open", given to a colleague under "Assigned to me") is removed. The tabs' unread
// counts and the page title follow. Rows are built with textContent, never from HTML, so what a
// person wrote stays text. It waits while the tab is hidden, backs off after errors and stops after
// several in a row. Without this script the page shows what it loaded.
(function () {
  "use strict";
  const MAX_ERRORS = 5;
  const table = document.getElementById("inbox-list");
  if (!table || table.dataset.live !== "true" || !window.fetch) return;
  const body = table.tBodies[0];
  const interval = Number(table.dataset.interval) || 5000;
  // On a page with older ones after it, the order key of its last row as loaded: rows below it are theirs.
  const floor =
    table.dataset.complete === "true" || !body.rows.length
      ? null
      : sortKey(body.rows[body.rows.length - 1].dataset.sort);
  let since = table.dataset.since || "";
  let errors = 0;

  function sortKey(text) {
    const parts = text.split(":");
    return [Number(parts[0]), Number(parts[1])];
  }

  function newer(a, b) {
    return a[0] > b[0] || (a[0] === b[0] && a[1] > b[1]);
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function buildRow(row, moved) {
    const tr = element("tr", "inbox-row" + (moved ? " arrived" : "") + (row.unread ? " unread" : ""));
    tr.dataset.id = String(row.id);
    tr.dataset.sort = row.sort[0] + ":" + row.sort[1];
    tr.dataset.version = String(row.version);

    const contact = element("td", "inbox-contact");
    const link = element("a", "", row.contact_name);
    link.href = row.url;
    contact.append(link);
    if (row.contact_number) contact.append(" ", element("span", "inbox-number", row.contact_number));

    const preview = element("td", "inbox-preview");
    if (row.outbound) {
      const ours = element("span", "inbox-ours", "Us: ");
      ours.title = "sent by us: an agent, an automation or a campaign";
      preview.append(ours);
    }
    preview.append(row.preview);
    if (row.unread) {
      const badge = element("span", "inbox-unread", String(row.unread));
      badge.title = "unread messages";
      preview.append(" ", badge);
    }
    if (row.waiting) preview.append(" ", element("span", "inbox-waiting", "waiting on us"));
    if (row.state === "resolved") preview.append(" ", element("span", "inbox-resolved", "resolved"));

    const assignee = element("td", "inbox-assignee");
    if (row.assigned_to_me) assignee.textContent = "me";
    else if (row.assignee) assignee.textContent = row.assignee;
    else assignee.append(element("span", "quiet", "unassigned"));

    const when = element("td", "inbox-when");
    const time = element("time", "", row.when);
    time.setAttribute("datetime", row.at);
    when.append(time);

    tr.append(contact, preview, assignee, when);
    return tr;
  }

  function shown(id) {
    return body.querySelector('tr[data-id="' + id + '"]');
  }

  function place(row) {
    const existing = shown(row.id);
    const sort = row.sort[0] + ":" + row.sort[1];
    if (existing && existing.dataset.version === String(row.version)) return; // shown as it is
    if (!existing && floor && newer(floor, row.sort)) return; // on an older page
    const tr = buildRow(row, !existing || existing.dataset.sort !== sort);
    if (existing && existing.dataset.sort === sort) {
      existing.replaceWith(tr); // read, assigned, waiting: changed in place
      return;
    }
    if (existing) existing.remove();
    const before = Array.prototype.find.call(body.rows, function (other) {
      return newer(row.sort, sortKey(other.dataset.sort));
    });
    body.insertBefore(tr, before || null);
  }

  function drop(id) {
    const existing = shown(id);
    if (existing) existing.remove();
  }

  function setCount(selector, count) {
    const badge = document.querySelector(selector);
    if (!badge) return;
    badge.textContent = String(count);
    badge.hidden = !count;
  }

  function render(data) {
    data.rows.forEach(place);
    data.gone.forEach(drop);
    since = data.since || since;
    Object.entries(data.counts.state).forEach(function ([key, count]) {
      setCount('[data-count-state="' + key + '"]', count);
    });
    Object.entries(data.counts.assignee).forEach(function ([key, count]) {
      setCount('[data-count-assignee="' + key + '"]', count);
    });
    document.title = (data.unread ? "(" + data.unread + ") " : "") + document.title.replace(/^\(\d+\) /, "");
    const empty = document.getElementById("inbox-list-empty");
    if (empty) empty.hidden = body.rows.length > 0;
    const more = document.getElementById("inbox-list-more");
    if (more && data.more) more.hidden = false;
  }

  function schedule(delay) {
    window.setTimeout(poll, delay);
  }

  function poll() {
    if (document.hidden) {
      document.addEventListener("visibilitychange", poll, { once: true });
      return;
    }
    const url = table.dataset.url + (since ? "&since=" + encodeURIComponent(since) : "");
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (data) {
        errors = 0;
        render(data);
        schedule(interval);
      })
      .catch(function () {
        errors += 1;
        if (errors < MAX_ERRORS) schedule(interval * (errors + 1));
      });
  }

  schedule(interval);
})();
