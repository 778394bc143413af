// The l3a page: preview a mosaic, order it, watch its job, look at the product, compare two
// products.
import * as api from "./js/api.js";
import { crossesItself } from "./js/geometry.js";
import { MapView } from "./js/mapview.js";
import { getPeriod, initPeriod } from "./js/period.js";
import { renderLegend, renderDownloads, productLabel } from "./js/panels.js";
import { Preview } from "./js/preview.js";

const $ = (id) => document.getElementById(id);
const BBOX_IDS = ["west", "south", "east", "north"];

const state = {
  products: [],          // STAC items of GET /products
  shown: null,           // id of the product on the map (or the left one of a comparison)
  compare: null,         // {left, right} while comparing
  layers: new Map(),     // product id -> its /tiles/layers answer
  geometry: null,        // the drawn polygon (GeoJSON) when the area is one, else null
};

const view = new MapView($("map"));

// ---------------------------------------------------------------- the preview

/** What the preview depends on in the order form, or null while the period is incomplete. */
function previewChoices() {
  const period = getPeriod();
  const method = $("method").value;
  return period && method ? { period, method, cloudMask: $("cloud-mask").value } : null;
}

const preview = new Preview(view, {
  toggle: $("preview"), layer: $("preview-layer"), legend: $("preview-legend"),
  details: $("preview-details"), hint: $("preview-hint"), status: $("preview-status"),
}, previewChoices);

// ---------------------------------------------------------------- the order form

function readBbox() {
  const values = BBOX_IDS.map((id) => Number.parseFloat($(id).value));
  return values.every(Number.isFinite) ? values : null;
}

/** Make the order's area a bbox, or a polygon `geometry` of bounds `bbox`, and show it. */
function setArea(bbox, geometry = null) {
  state.geometry = geometry;
  $("polygon-note").hidden = !geometry;
  view.showArea(bbox, geometry);
}

/** Set the area and the four boxes (for a polygon, its bounds). */
function writeArea(bbox, geometry = null) {
  BBOX_IDS.forEach((id, i) => { $(id).value = bbox[i]; });
  setArea(bbox, geometry);
}

function boundsOf(ring) {
  const lons = ring.map(([lon]) => lon);
  const lats = ring.map(([, lat]) => lat);
  return [Math.min(...lons), Math.min(...lats), Math.max(...lons), Math.max(...lats)];
}

async function describeProcess() {
  const description = await api.processDescription();
  const inputs = description.inputs;
  const methods = inputs.method.schema.enum;
  const help = Object.fromEntries(
    inputs.method.description.replace(/^[^:]*:\s*/, "").split("; ").map((part) => {
      const at = part.indexOf(": ");
      return [part.slice(0, at), part.slice(at + 2)];
    }),
  );
  $("method").replaceChildren(...methods.map((m) => new Option(m, m)));
  const explain = () => { $("method-help").textContent = help[$("method").value] || ""; };
  $("method").addEventListener("change", explain);
  explain();
  const bands = inputs.bands.schema.items.enum;
  const chosen = new Set(inputs.bands.schema.default || ["blue", "green", "red", "nir"]);
  $("bands").replaceChildren(...bands.map((band) => {
    const label = document.createElement("label");
    const box = Object.assign(document.createElement("input"), {
      type: "checkbox", name: "band", value: band, checked: chosen.has(band),
    });
    label.append(box, ` ${band}`);
    return label;
  }));
  describeCloudMask(inputs.cloud_mask);
  const resolutions = inputs.resolution.schema.enum;
  if (resolutions) {
    const current = $("resolution").value;
    $("resolution").replaceChildren(...resolutions.map((r) => new Option(`${r} m`, String(r))));
    $("resolution").value = resolutions.map(String).includes(current) ? current : resolutions[0];
  }
}

/** The cloud mask picker: the API's canonical chains (auto first), each explained. */
function describeCloudMask(input) {
  const chains = input.schema.enum;
  const text = input.description || "";
  const at = text.lastIndexOf("Sources: ");
  const help = at < 0 ? {} : Object.fromEntries(
    text.slice(at + "Sources: ".length).split("; ").map((part) => {
      const colon = part.indexOf(": ");
      return [part.slice(0, colon), part.slice(colon + 2)];
    }),
  );
  const select = $("cloud-mask");
  select.replaceChildren(...chains.map((c) => new Option(c, c)));
  select.value = chains.includes(input.schema.default) ? input.schema.default : chains[0];
  const explain = () => {
    $("cloud-mask-help").textContent = select.value.split("+")
      .map((source) => (help[source] ? `${source}: ${help[source]}` : source)).join("; ");
  };
  select.addEventListener("change", explain);
  explain();
}

function clearErrors() {
  $("order-error").textContent = "";
  for (const input of document.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
}

function showError(message, field) {
  $("order-error").textContent = message;
  const target = { bbox: "west", geometry: "draw-polygon", period: "period-kind",
    bands: "bands", cloud_mask: "cloud-mask" }[field] || field;
  const element = target && $(target);
  if (element) {
    element.setAttribute("aria-invalid", "true");
    const folded = element.closest("details");  // e.g. the cloud mask, under "More"
    if (folded) folded.open = true;
    element.focus?.();
  }
}

async function submitOrder(event) {
  event.preventDefault();
  clearErrors();
  const bbox = readBbox();
  if (!bbox) return showError("Enter the area as four numbers: west, south, east, north.", "bbox");
  const period = getPeriod();
  if (!period) return showError("Choose a period.", "period");
  const bands = [...document.querySelectorAll("input[name=band]:checked")].map((b) => b.value);
  if (!bands.length) return showError("Choose at least one band.", "bands");
  const inputs = {
    ...(state.geometry ? { geometry: state.geometry } : { bbox }),
    period, method: $("method").value, bands,
    resolution: Number.parseInt($("resolution").value, 10), cloud_mask: $("cloud-mask").value,
  };
  $("order").disabled = true;
  $("job").dataset.status = "submitting";
  try {
    const { job, location } = await api.order(inputs, $("api-key").value);
    await followJob(job, location);
  } catch (error) {
    showError(error.message, error.field);
  } finally {
    $("order").disabled = false;
  }
}

// ---------------------------------------------------------------- the job

function showJob(job) {
  if ($("job").hidden) {
    $("job").hidden = false;
    $("job-status").scrollIntoView({ block: "nearest" });  // on a short screen
  }
  $("job-progress").value = job.progress ?? 0;
  const words = { accepted: "Waiting for a worker", running: "Computing",
    successful: "Done", failed: "Failed", dismissed: "Dismissed" };
  const message = job.message && job.status !== "successful" ? ` — ${job.message}` : "";
  $("job-status").textContent = `${words[job.status] || job.status} (${job.progress ?? 0} %)${message}`;
  $("job").dataset.status = job.status;
}

async function followJob(job, location) {
  showJob(job);
  const final = await api.watchJob(location, showJob);
  if (final.status !== "successful") return;
  const item = (final.links || []).find((link) => link.rel === "item");
  const productId = item ? item.href.split("/").pop() : final.jobID;
  await refreshProducts();
  await showProduct(productId);
}

// ---------------------------------------------------------------- products

async function refreshProducts() {
  const collection = await api.listProducts();
  state.products = collection.features;
  view.showFootprints(state.products);
  const list = $("products");
  list.replaceChildren(...state.products.map((item) => {
    const li = document.createElement("li");
    const button = Object.assign(document.createElement("button"), {
      type: "button", className: "link", textContent: productLabel(item),
    });
    button.addEventListener("click", () => showProduct(item.id));
    li.append(button);
    li.dataset.productId = item.id;
    return li;
  }));
  if (!state.products.length) {
    const li = document.createElement("li");
    li.className = "hint";
    li.textContent = "No product yet: order one above.";
    list.append(li);
  }
  // Keep the comparison's choice while it names two existing products; else compare the two
  // newest (the older on the left), e.g. a synthesis and then a composite of one area.
  const exists = (id) => state.products.some((p) => p.id === id);
  let left = $("compare-left").value;
  let right = $("compare-right").value;
  if (!(left && right && left !== right && exists(left) && exists(right))) {
    left = state.products[Math.min(1, state.products.length - 1)]?.id ?? "";
    right = state.products[0]?.id ?? "";
  }
  for (const [select, value] of [["compare-left", left], ["compare-right", right]]) {
    $(select).replaceChildren(...state.products.map((item) => new Option(productLabel(item), item.id)));
    $(select).value = value;
  }
  $("compare-start").disabled = state.products.length < 2;
}

async function layersOf(id) {
  if (!state.layers.has(id)) state.layers.set(id, await api.productLayers(id));
  return state.layers.get(id);
}

/** Fill the layer picker with the layers `ids` all have, keeping the current choice. */
async function fillLayerPicker(ids) {
  const answers = await Promise.all(ids.map(layersOf));
  const common = answers[0].layers.filter((layer) => answers.every(
    (answer) => answer.layers.some((other) => other.id === layer.id)));
  const current = $("layer").value;
  $("layer").replaceChildren(...common.map((layer) => new Option(layer.title, layer.id)));
  $("layer").value = common.some((l) => l.id === current) ? current : answers[0].default;
  return answers;
}

function legendOf(answer, layerId) {
  return answer.layers.find((layer) => layer.id === layerId)?.legend;
}

function tileWatcher(event) {
  // For tests and curious people: count the tiles that arrived.
  const key = event.type === "tileload" ? "tilesLoaded" : "tilesFailed";
  document.body.dataset[key] = String(Number(document.body.dataset[key] || 0) + 1);
}

async function showProduct(id) {
  stopCompare();
  state.shown = id;
  const [item] = await Promise.all([api.getProduct(id), fillLayerPicker([id])]);
  $("product").hidden = false;
  $("layer-box").hidden = false;
  $("product-title").textContent = "Product";
  $("layer-box-title").textContent = "Product";
  $("product-summary").textContent = productLabel(item);
  renderDownloads($("downloads"), item);
  await drawLayers();
  view.fit(item.bbox);
  markCurrent([id]);
}

function markCurrent(ids) {
  for (const li of $("products").children) {
    li.classList.toggle("current", ids.includes(li.dataset.productId));
  }
}

/** Draw the chosen layer of the shown product, or of both products of a comparison. */
// The products' outlines: on an empty map they say where products are; over imagery they
// hide its edges, so there they are off unless asked for.
function showOutlines() {
  view.setFootprintsVisible(!state.shown || $("footprints").checked);
}

async function drawLayers() {
  showOutlines();
  const layer = $("layer").value;
  delete $("map").dataset.layer;
  if (state.compare) {
    const { left, right } = state.compare;
    const [a, b] = await Promise.all([layersOf(left), layersOf(right)]);
    const la = legendOf(a, layer);
    const lb = legendOf(b, layer);
    // One stretch for both sides: the same reflectance must look the same on each side of
    // the divider, or the comparison shows stretches rather than products.
    let rescale = null;
    if (la?.rescale && lb?.rescale && la.kind !== "classes") {
      rescale = [Math.min(la.rescale[0], lb.rescale[0]), Math.max(la.rescale[1], lb.rescale[1])];
    }
    const [ta, tb] = await Promise.all([
      api.tileJSON(left, layer, rescale), api.tileJSON(right, layer, rescale)]);
    view.showTiles("bottom", ta, tileWatcher);
    view.showTiles("top", tb, tileWatcher);
    renderLegend($("legend"), la && { ...la, rescale: rescale || la.rescale });
  } else if (state.shown) {
    const answer = await layersOf(state.shown);
    view.clear("top");
    view.showTiles("bottom", await api.tileJSON(state.shown, layer), tileWatcher);
    renderLegend($("legend"), legendOf(answer, layer));
  }
  // What the map shows now, for tests and scripts: "rgb", "date", ...
  $("map").dataset.layer = layer;
}

// ---------------------------------------------------------------- the swipe comparison

async function startCompare() {
  const left = $("compare-left").value;
  const right = $("compare-right").value;
  if (!left || !right) return;
  state.compare = { left, right };
  state.shown = left;
  markCurrent([left, right]);
  const label = (id) => productLabel(state.products.find((p) => p.id === id) || { id });
  $("swipe-left-label").textContent = `◀ ${label(left)}`;
  $("swipe-right-label").textContent = `${label(right)} ▶`;
  $("swipe").hidden = false;
  $("compare-stop").hidden = false;
  // The swipe compares two products: a preview under them would show through wherever one
  // has no data, and pass for it.
  preview.suspend("Hidden while comparing two products");
  $("product").hidden = false;
  $("layer-box").hidden = false;
  $("product-title").textContent = "Comparison";
  $("layer-box-title").textContent = "Products compared";
  $("product-summary").textContent = `Left: ${label(left)}. Right: ${label(right)}.`;
  renderDownloads($("downloads"), await api.getProduct(right), await api.getProduct(left));
  await fillLayerPicker([left, right]);
  moveSwipe();
  await drawLayers();
  const item = state.products.find((p) => p.id === left);
  if (item) view.fit(item.bbox);
}

function stopCompare() {
  if (!state.compare) return;
  state.compare = null;
  view.clear("top");
  $("swipe").hidden = true;
  $("compare-stop").hidden = true;
  preview.resume();
}

function moveSwipe() {
  const fraction = Number($("swipe-range").value) / 100;
  $("swipe-line").style.left = `${fraction * 100}%`;
  view.setSplit(fraction);
}

// ---------------------------------------------------------------- start

const DRAW_HINTS = {
  rectangle: "Drag a rectangle on the map, or click two corners. Esc cancels.",
  polygon: "Click the polygon's corners on the map; double-click, or click the first corner "
    + "again, to close it. Backspace removes a corner, Esc cancels.",
};

/** Draw the area on the map: `kind` "rectangle" or "polygon"; either button cancels. */
async function drawTool(kind) {
  if (view.cancelDraw) { view.cancelDraw(); return; }
  const button = $(kind === "polygon" ? "draw-polygon" : "draw");
  const label = button.textContent;
  button.setAttribute("aria-pressed", "true");
  button.textContent = "Cancel drawing";
  $("draw-hint").textContent = DRAW_HINTS[kind];
  $("draw-hint").hidden = false;
  const drawn = await (kind === "polygon" ? view.drawPolygon() : view.drawRectangle());
  button.setAttribute("aria-pressed", "false");
  button.textContent = label;
  $("draw-hint").hidden = true;
  if (!drawn) return;
  clearErrors();  // a new area: an error about the last one no longer applies
  if (kind === "rectangle") {
    writeArea(drawn);
  } else if (crossesItself(drawn)) {
    // Refused here, before any request: a polygon whose edges cross has no inside (the API
    // would answer 422). The area stays the one before.
    showError("The polygon crosses itself: draw it again with edges that do not cross.",
      "geometry");
  } else {
    writeArea(boundsOf(drawn), { type: "Polygon", coordinates: [drawn] });
  }
}

async function start() {
  const config = await api.viewerConfig();
  view.setBasemap(config.basemap || {});
  writeArea(config.bbox);
  $("resolution").value = String(config.resolution);
  initPeriod(config.period);
  view.fit(config.bbox, 80);
  for (const id of BBOX_IDS) {
    $(id).addEventListener("change", () => {
      const b = readBbox();
      if (b) { setArea(b); clearErrors(); }  // typed: a rectangle again
    });
  }
  $("draw").addEventListener("click", () => drawTool("rectangle"));
  $("draw-polygon").addEventListener("click", () => drawTool("polygon"));
  $("order-form").addEventListener("submit", submitOrder);
  $("layer").addEventListener("change", drawLayers);
  $("footprints").addEventListener("change", showOutlines);
  $("refresh").addEventListener("click", refreshProducts);
  $("compare-start").addEventListener("click", startCompare);
  $("compare-stop").addEventListener("click", () => { stopCompare(); drawLayers(); });
  $("swipe-range").addEventListener("input", moveSwipe);
  // The preview follows the period, the method and the cloud mask; not the area, which is
  // drawn over it (the preview shows the whole map, to help choose where to order).
  const period = $("period-kind").closest("fieldset");
  for (const [input, events] of [[period, ["input", "change"]], [$("method"), ["change"]],
    [$("cloud-mask"), ["change"]]]) {
    for (const type of events) input.addEventListener(type, () => preview.schedule());
  }
  // The preview needs the methods and cloud masks only: it need not wait for the products.
  await Promise.all([describeProcess().then(() => { preview.rebuild(); }), refreshProducts()]);
  document.body.dataset.ready = "true";
}

start().catch((error) => {
  $("order-error").textContent = `The page could not start: ${error.message}`;
});
