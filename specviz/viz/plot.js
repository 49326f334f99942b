// Draw one plotly figure from the full figure JSON that the Python side holds (see plot.py).
//
// The figure is *state*, not a stream of edits: whenever a view is created, or the figure
// changes, the view draws what the model holds now. So a figure changed before it was displayed,
// or while plotly.js was still loading, still comes out right.
// plotly.js itself is not in this module: it travels once per kernel in a shared PlotlyLibrary
// widget (`library`), and is evaluated once per page, whichever plot asks first.

const LOADED = Symbol.for("specviz.plotly");

function loadPlotly(model) {
  if (!globalThis[LOADED]) {
    globalThis[LOADED] = (async () => {
      const id = model.get("library").replace("IPY_MODEL_", "");
      const library = await model.widget_manager.get_model(id);
      // plotly.min.js is a UMD bundle: given a `module`, it exports Plotly there (and never
      // touches a page's require.js `define`, which is shadowed here)
      const module = { exports: {} };
      new Function("module", "exports", "define", library.get("source"))(
        module, module.exports, undefined);
      return module.exports;
    })();
    globalThis[LOADED].catch(() => { delete globalThis[LOADED]; });  // a later view tries again
  }
  return globalThis[LOADED];
}

function figure(model) {
  // a deep copy: plotly writes into the objects it is given, the model's state must stay as sent
  const spec = structuredClone(model.get("spec"));
  const overrides = model.get("overrides") || {};
  const data = (spec.data || []).map((trace) => ({ ...trace, ...(overrides[trace.name] || {}) }));
  return { data, layout: { ...spec.layout, template: model.get("template") } };
}

async function render({ model, el }) {
  const div = document.createElement("div");
  div.className = "specviz-plot";
  div.style.width = "100%";
  div.textContent = "loading plotly.js …";
  el.appendChild(div);
  let Plotly;
  try {
    Plotly = await loadPlotly(model);
  } catch (err) {
    div.textContent = `specviz could not load plotly.js: ${err}`;
    throw err;
  }
  div.textContent = "";
  let drawn = false;
  const draw = () => {
    if (!div.isConnected || div.clientWidth === 0) return;  // drawn once it is on the page
    const { data, layout } = figure(model);
    Plotly.react(div, data, layout, { displaylogo: false, responsive: true });
    drawn = true;
  };
  // plotly sizes a figure to its container when drawn: draw (or resize) once the output area
  // has given this view its width, and again whenever that width changes
  const resized = new ResizeObserver(() => {
    if (drawn) Plotly.Plots.resize(div); else draw();
  });
  resized.observe(div);
  const redraw = () => draw();
  model.on("change:spec", redraw);
  model.on("change:overrides", redraw);
  model.on("change:template", redraw);
  draw();
  return () => {
    resized.disconnect();
    model.off("change:spec", redraw);
    model.off("change:overrides", redraw);
    model.off("change:template", redraw);
    Plotly.purge(div);
  };
}

export default { render };
