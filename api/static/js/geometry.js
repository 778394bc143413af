// Plane geometry of [lon, lat] rings, as the page needs it: areas and middles for the country
// names, point-in-polygon tests, and the check that a drawn polygon does not cross itself.
// Degrees are taken as plane coordinates: good enough at the size of a country or an order.

function signedArea(ring) {
  let sum = 0;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i, i += 1) {
    sum += ring[j][0] * ring[i][1] - ring[i][0] * ring[j][1];
  }
  return sum / 2;
}

/** The area of a ring, square degrees. */
export function ringArea(ring) {
  return Math.abs(signedArea(ring));
}

/** The centroid of a ring's surface ([lon, lat]); its vertices' mean when it has none. */
export function ringCentroid(ring) {
  const area = signedArea(ring);
  if (Math.abs(area) < 1e-12) {
    const sum = ring.reduce((acc, [x, y]) => [acc[0] + x, acc[1] + y], [0, 0]);
    return [sum[0] / ring.length, sum[1] / ring.length];
  }
  let cx = 0;
  let cy = 0;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i, i += 1) {
    const cross = ring[j][0] * ring[i][1] - ring[i][0] * ring[j][1];
    cx += (ring[j][0] + ring[i][0]) * cross;
    cy += (ring[j][1] + ring[i][1]) * cross;
  }
  return [cx / (6 * area), cy / (6 * area)];
}

/** Whether the point [x, y] lies inside the ring (even-odd rule). */
export function ringContains(ring, [x, y]) {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i, i += 1) {
    const [xi, yi] = ring[i];
    const [xj, yj] = ring[j];
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/**
 * Whether the point [x, y] lies inside a polygon given as rings (even-odd rule: inside an odd
 * number of them, so holes, and the pieces of a polygon cut in two, count right).
 */
export function polygonContains(rings, point) {
  return rings.filter((ring) => ringContains(ring, point)).length % 2 === 1;
}

function orientation(p, q, r) {
  const value = (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0]);
  return Math.sign(value);
}

function onSegment(p, q, r) {  // q on [p, r], given the three are collinear
  return Math.min(p[0], r[0]) <= q[0] && q[0] <= Math.max(p[0], r[0])
    && Math.min(p[1], r[1]) <= q[1] && q[1] <= Math.max(p[1], r[1]);
}

function segmentsMeet(a, b, c, d) {
  const o1 = orientation(a, b, c);
  const o2 = orientation(a, b, d);
  const o3 = orientation(c, d, a);
  const o4 = orientation(c, d, b);
  if (o1 !== o2 && o3 !== o4) return true;
  return (o1 === 0 && onSegment(a, c, b)) || (o2 === 0 && onSegment(a, d, b))
    || (o3 === 0 && onSegment(c, a, d)) || (o4 === 0 && onSegment(c, b, d));
}

/**
 * Whether a closed ring (first vertex repeated last) crosses or touches itself: two edges
 * that are not neighbours meet, as in a bow tie. Such a polygon has no inside, and the API
 * refuses it.
 */
export function crossesItself(ring) {
  const n = ring.length - 1;  // edges
  for (let i = 0; i < n; i += 1) {
    for (let j = i + 1; j < n; j += 1) {
      const neighbours = j === i + 1 || (i === 0 && j === n - 1);
      if (neighbours) {
        // Neighbours share a vertex; they only overlap if they fold back on each other.
        const shared = j === i + 1 ? ring[j] : ring[i];
        const [p, q] = j === i + 1 ? [ring[i], ring[j + 1]] : [ring[i + 1], ring[j]];
        if (orientation(p, shared, q) === 0 && (onSegment(shared, p, q)
            || onSegment(shared, q, p))) return true;
      } else if (segmentsMeet(ring[i], ring[i + 1], ring[j], ring[j + 1])) {
        return true;
      }
    }
  }
  return false;
}
