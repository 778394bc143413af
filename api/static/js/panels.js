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

/** List a product's COGs, its STAC item and its TileJSON (of one or two products). */
export function renderDownloads(list, ...items) {
  list.replaceChildren();
  for (const item of items) {
    const prefix = items.length > 1 ? `${item.properties?.["l3a:method"] ?? item.id}: ` : "";
    const tilejson = (item.links || []).find((link) => link.rel === "tilejson");
    const links = [
      ...Object.entries(item.assets || {}).map(
        ([key, asset]) => ({ name: key, href: asset.href, title: asset.title, download: true })),
      { name: "STAC item", href: (item.links || []).find((link) => link.rel === "self")?.href },
      { name: "TileJSON", href: tilejson?.href },
    ].filter((link) => link.href);
    for (const link of links) {
      const anchor = el("a", { href: link.href, title: link.title || link.name }, `${prefix}${link.name}`);
      if (link.download) anchor.download = "";
      list.append(el("li", {}, anchor));
    }
  }
}
