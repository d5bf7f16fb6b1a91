"use strict";
/* Tidy-tree layout: Walker's algorithm in the linear-time form of Buchheim, Jünger and Leipert
 * ("Improving Walker's algorithm to run in linear time", 2002). Parents sit centred over their
 * children, siblings keep their order, and each subtree is pushed left as far as its contour allows,
 * so the drawing is as narrow as a layered tidy drawing can be.
 *
 * Input: `children[i]` (arrays of indices, in order) and the root index. Output: x of every node in
 * units of the sibling distance (the leftmost node at 0). Depth gives y. Everything runs in loops over
 * a post-order, never recursion: a chain of debug children can be thousands deep. */

function tidyLayout(children, root) {
  const n = children.length;
  const parent = new Int32Array(n).fill(-1);
  const number = new Int32Array(n);  // position among siblings
  for (let v = 0; v < n; v++) {
    children[v].forEach((w, k) => { parent[w] = v; number[w] = k; });
  }
  const prelim = new Float64Array(n);
  const mod = new Float64Array(n);
  const shift = new Float64Array(n);
  const change = new Float64Array(n);
  const thread = new Int32Array(n).fill(-1);
  const ancestor = Int32Array.from({ length: n }, (_, i) => i);
  const mid = new Float64Array(n);  // a parent's centre over its children, in its own subtree's frame

  const isLeaf = (v) => children[v].length === 0;
  const leftSibling = (v) => (number[v] > 0 ? children[parent[v]][number[v] - 1] : -1);
  const nextLeft = (v) => (isLeaf(v) ? thread[v] : children[v][0]);
  const nextRight = (v) => (isLeaf(v) ? thread[v] : children[v][children[v].length - 1]);

  function moveSubtree(wl, wr, distance) {
    const subtrees = number[wr] - number[wl];
    change[wr] -= distance / subtrees;
    shift[wr] += distance;
    change[wl] += distance / subtrees;
    prelim[wr] += distance;
    mod[wr] += distance;
  }

  function apportion(v, defaultAncestor) {
    const w = leftSibling(v);
    if (w < 0) return defaultAncestor;
    // i/o: inside/outside contour; p/m: the right (plus) subtree v and everything left of it.
    let vip = v, vop = v, vim = w, vom = children[parent[v]][0];
    let sip = mod[vip], sop = mod[vop], sim = mod[vim], som = mod[vom];
    while (nextRight(vim) >= 0 && nextLeft(vip) >= 0) {
      vim = nextRight(vim);
      vip = nextLeft(vip);
      vom = nextLeft(vom);
      vop = nextRight(vop);
      ancestor[vop] = v;
      const overlap = prelim[vim] + sim - (prelim[vip] + sip) + 1;
      if (overlap > 0) {
        const a = parent[ancestor[vim]] === parent[v] ? ancestor[vim] : defaultAncestor;
        moveSubtree(a, v, overlap);
        sip += overlap;
        sop += overlap;
      }
      sim += mod[vim];
      sip += mod[vip];
      som += mod[vom];
      sop += mod[vop];
    }
    if (nextRight(vim) >= 0 && nextRight(vop) < 0) {
      thread[vop] = nextRight(vim);
      mod[vop] += sim - sop;
    }
    if (nextLeft(vip) >= 0 && nextLeft(vom) < 0) {
      thread[vom] = nextLeft(vip);
      mod[vom] += sip - som;
      defaultAncestor = v;
    }
    return defaultAncestor;
  }

  // Place v next to its left sibling (which apportion may already have moved): the part of
  // Walker's first walk that depends on siblings, done when the parent is reached.
  function placeBesideSibling(v) {
    const w = leftSibling(v);
    if (isLeaf(v)) {
      prelim[v] = w >= 0 ? prelim[w] + 1 : 0;
    } else if (w >= 0) {
      prelim[v] = prelim[w] + 1;
      mod[v] = prelim[v] - mid[v];
    } else {
      prelim[v] = mid[v];
    }
  }

  // Post-order: every node after all of its descendants.
  const order = [];
  const stack = [root];
  while (stack.length) {
    const v = stack.pop();
    order.push(v);
    for (const w of children[v]) stack.push(w);
  }
  order.reverse();

  for (const v of order) {
    if (isLeaf(v)) continue;
    let defaultAncestor = children[v][0];
    for (const w of children[v]) {
      placeBesideSibling(w);
      defaultAncestor = apportion(w, defaultAncestor);
    }
    // Execute the shifts apportion recorded, right to left.
    let s = 0, c = 0;
    for (let k = children[v].length - 1; k >= 0; k--) {
      const w = children[v][k];
      prelim[w] += s;
      mod[w] += s;
      c += change[w];
      s += shift[w] + c;
    }
    mid[v] = (prelim[children[v][0]] + prelim[children[v][children[v].length - 1]]) / 2;
  }
  placeBesideSibling(root);

  // Second walk: absolute x is prelim plus the mods of all ancestors.
  const x = new Float64Array(n);
  const modSum = new Float64Array(n);
  let minX = Infinity;
  for (let k = order.length - 1; k >= 0; k--) {  // reversed post-order: parents before children
    const v = order[k];
    x[v] = prelim[v] + modSum[v];
    if (x[v] < minX) minX = x[v];
    for (const w of children[v]) modSum[w] = modSum[v] + mod[v];
  }
  for (const v of order) x[v] -= minX;
  return x;
}
