// A campaign's progress bar, kept current without a reload: while the campaign is sending or paused
// it asks the progress endpoint every few seconds, and every half minute or so while a finished
// campaign settles (delivered, read and replies keep arriving for hours: the endpoint says how long,
// as "pace"); it writes the counts, the bar's widths, the rate and the expected finish into the page
// the server rendered, and on the results page the funnel's bars, numbers and description. It stops
// once the endpoint says nothing moves any more (or after repeated errors). Without this script the
// page shows the figures of its load.
(function () {
  "use strict";
  const MAX_ERRORS = 5;
  const root = document.getElementById("campaign-progress");
  if (!root || root.dataset.live !== "true" || !window.fetch) return;
  const INTERVALS = {
    fast: Number(root.dataset.interval) || 4000,
    slow: Number(root.dataset.settlingInterval) || 30000,
  };
  let errors = 0;

  function interval() {
    return INTERVALS[root.dataset.pace] || INTERVALS.fast;
  }

  function renderFunnel(funnel) {
    const chart = document.getElementById("campaign-funnel");
    if (!chart || !funnel) return;
    const steps = chart.querySelectorAll(".campaign-funnel-step");
    funnel.bars.forEach(function (bar, index) {
      const step = steps[index];
      if (!step) return;
      step.querySelector("rect").setAttribute("width", String(bar.width));
      const count = step.querySelector("text.count");
      count.setAttribute("x", String(bar.count_x));
      count.textContent = bar.text;
    });
    const description = chart.querySelector("desc");
    if (description) description.textContent = funnel.description;
  }

  function setText(selector, text) {
    const node = root.querySelector(selector);
    if (node) node.textContent = text;
  }

  function render(data) {
    const total = data.total || 0;
    const labels = [];
    Object.entries(data.counts).forEach(function ([state, count]) {
      setText('[data-count="' + state + '"]', String(count));
      const segment = root.querySelector('.campaign-progress-segment[data-state="' + state + '"]');
      if (segment) {
        segment.style.width = (total ? (100 * count) / total : 0) + "%";
        const label = segment.title.split(":")[0];
        segment.title = label + ": " + count;
        labels.push(label + " " + count);
      }
    });
    const bar = root.querySelector(".campaign-progress-bar");
    if (bar) bar.setAttribute("aria-label", "Messages by state: " + labels.join(", "));
    setText('[data-count="needs_review"]', String(data.needs_review));
    setText('[data-figure="current_rate"]', String(data.current_rate));
    setText('[data-figure="effective_rate"]', String(data.effective_rate));
    setText('[data-figure="expected_finish"]', data.expected_finish_text || "—");
    const notes = root.querySelector('[data-figure="notes"]');
    if (notes) {
      notes.replaceChildren(
        ...data.notes.map(function (text) {
          const item = document.createElement("li");
          item.textContent = text;
          return item;
        })
      );
    }
  }

  function poll() {
    fetch(root.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (data) {
        errors = 0;
        render(data);
        renderFunnel(data.funnel);
        root.dataset.pace = data.pace;
        if (data.pace) window.setTimeout(poll, interval());
        else root.dataset.live = "false";
      })
      .catch(function () {
        errors += 1;
        if (errors < MAX_ERRORS) window.setTimeout(poll, interval() * (errors + 1));
      });
  }

  window.setTimeout(poll, interval());
})();
