// The service's HTTP API, as the page uses it. URLs are relative to the page, so the page
// works when the service sits behind a proxy under a path.

/** An answer that is not 2xx; `field` names the input at fault when the API says so. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.field = problem?.field ?? null;
  }
}

async function request(url, options = {}) {
  const response = await fetch(url, options);
  if (!response.ok) {
    let problem = null;
    try { problem = await response.json(); } catch { /* not JSON */ }
    throw new ApiError(response.status, problem);
  }
  return response;
}

export async function getJSON(url) {
  return (await request(url, { headers: { Accept: "application/json" } })).json();
}

/** Order a mosaic; resolves to {job, location} (201 new job, 200 an identical order's). */
export async function order(inputs, apiKey) {
  const headers = { "Content-Type": "application/json", Accept: "application/json" };
  if (apiKey) headers["X-API-Key"] = apiKey;
  const response = await request("processes/mosaic/execution", {
    method: "POST", headers, body: JSON.stringify({ inputs }),
  });
  const job = await response.json();
  return { job, location: response.headers.get("Location") || `jobs/${job.jobID}` };
}

const FINAL = new Set(["successful", "failed", "dismissed"]);

/** Poll a job until it ends, calling `onUpdate(statusInfo)` on each answer. */
export async function watchJob(location, onUpdate, intervalMs = 500) {
  for (;;) {
    const job = await getJSON(location);
    onUpdate(job);
    if (FINAL.has(job.status)) return job;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export const processDescription = () => getJSON("processes/mosaic");
export const listProducts = () => getJSON("products?limit=100");
export const getProduct = (id) => getJSON(`products/${encodeURIComponent(id)}`);
export const productLayers = (id) => getJSON(`products/${encodeURIComponent(id)}/tiles/layers`);
export const viewerConfig = () => getJSON("viewer/config.json");

/** The TileJSON of a product's layer (256 px tiles; `rescale` shared in comparisons). */
export function tileJSON(id, layer, rescale) {
  const query = new URLSearchParams({ tilesize: "256", layer });
  if (rescale) query.set("rescale", rescale.join(","));
  return getJSON(`products/${encodeURIComponent(id)}/tiles/WebMercatorQuad/tilejson.json?${query}`);
}

/** The layers a method's preview can be drawn as, each with its legend (as a product's). */
export function previewLayers(period, method) {
  return getJSON(`preview/layers?${new URLSearchParams({ period, method })}`);
}

/** The TileJSON of the preview of an order's {period, method, cloudMask}, drawn as `layer`. */
export function previewTileJSON({ period, method, cloudMask }, layer) {
  const query = new URLSearchParams({ period, method, layer, cloud_mask: cloudMask });
  return getJSON(`preview/tilejson.json?${query}`);
}
