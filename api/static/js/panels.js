// Small views of the side panel: product labels, legends, download links.

const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
};

const fmt = (v) => (Math.abs(v) >= 100 ? Math.round(v) : Number(v.toPrecision(3))).toString();

/** "synthesis · 2024-07 · 20 m · 1a2b3c" for a STAC item of the product list. */
export function productLabel(item) {
  const p = item.properties || {};
  const parts = [p["l3a:method"], p["l3a:period"], p.gsd && `${p.gsd} m`, item.id.slice(0, 6)];
  return parts.filter(Boolean).join(" · ");
}

/** Draw the legend of a layer: classes, a colour ramp with its range, or the stretch. */
export function renderLegend(container, legend) {
  container.replaceChildren();
  if (!legend) return;
  if (legend.kind === "classes") {
    container.append(el("ul", { className: "classes" }, ...legend.classes.map((c) => el(
      "li", {}, el("span", { className: "swatch", style: `background:${c.color}` }), c.name))));
    return;
  }
  if (legend.kind === "colormap") {
    const ramp = el("div", { className: "ramp", role: "img",
      ariaLabel: `colour ramp ${legend.colormap_name}` });
    ramp.style.background = `linear-gradient(to right, ${legend.stops.join(", ")})`;
    const [low, high] = legend.rescale || [0, 1];
    container.append(ramp, el("div", { className: "ramp-labels" },
      el("span", {}, fmt(low)), el("span", {}, legend.unit || ""), el("span", {}, fmt(high))));
    return;
  }
  if (legend.rescale) {
    container.append(el("p", { className: "hint" },
      `Stretch ${fmt(legend.rescale[0])} – ${fmt(legend.rescale[1])}${legend.unit ? ` (${legend.unit})` : ""}`));
  }
}

/** List a product's COGs, its STAC item and its TileJSON (of one or two products).
 *
 * A product built in parts has, per layer, a mosaic (a GDAL VRT over the whole extent, for
 * GDAL and QGIS) and one COG per part (its `l3a:part`): the layer's line links the mosaic,
 * then its parts. */
export function renderDownloads(list, ...items) {
  list.replaceChildren();
  for (const item of items) {
    const prefix = items.length > 1 ? `${item.properties?.["l3a:method"] ?? item.id}: ` : "";
    const assets = Object.entries(item.assets || {});
    const parts = assets.filter(([, asset]) => asset["l3a:part"]);
    for (const [key, asset] of assets.filter(([, a]) => !a["l3a:part"])) {
      const anchor = el("a", { href: asset.href, title: asset.title || key }, `${prefix}${key}`);
      anchor.download = "";
      const line = el("li", {}, anchor);
      const own = parts.filter(([partKey]) => partKey.startsWith(`${key}.`));
      if (own.length) {
        line.classList.add("parted");
        line.append(" (mosaic) · parts: ", ...own.flatMap(([, part], i) => {
          const link = el("a", { href: part.href, title: part.title }, part["l3a:part"]);
          link.download = "";
          return i ? [" ", link] : [link];
        }));
      }
      list.append(line);
    }
    const tilejson = (item.links || []).find((link) => link.rel === "tilejson");
    const self = (item.links || []).find((link) => link.rel === "self");
    for (const [name, link] of [["STAC item", self], ["TileJSON", tilejson]]) {
      if (link?.href) list.append(el("li", {}, el("a", { href: link.href, title: name }, `${prefix}${name}`)));
    }
  }
}
