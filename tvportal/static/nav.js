/* TvNav: virtual focus and spatial navigation for the remote (ES5, ~150 lines, no dependencies).
 * Focus is a CSS class ("focused") on one element with class "f"; real .focus() is slow on boxes
 * and iframes can steal it. An element may override a direction with data-up/down/left/right:
 * "#id" moves to that element, "@url" goes to a page (used for paging), "none" stays put.
 * Otherwise the nearest element in that direction wins (distance along the axis plus twice the
 * sideways offset, so moves stay in their row or column). */
(function (global) {
  'use strict';
  var doc = global.document;
  var current = null;
  var watchers = [];

  function hasClass(el, name) {
    return (' ' + el.className + ' ').indexOf(' ' + name + ' ') >= 0;
  }
  function addClass(el, name) {
    if (!hasClass(el, name)) { el.className = (el.className ? el.className + ' ' : '') + name; }
  }
  function removeClass(el, name) {
    el.className = (' ' + el.className + ' ').replace(' ' + name + ' ', ' ').replace(/^\s+|\s+$/g, '');
  }
  function focusables() {
    var all = doc.getElementsByTagName('*');
    var list = [];
    var i;
    for (i = 0; i < all.length; i++) {
      if (hasClass(all[i], 'f') && !all[i].disabled) { list.push(all[i]); }
    }
    return list;
  }
  function rect(el) {
    var r = el.getBoundingClientRect();
    return { left: r.left, top: r.top, right: r.right, bottom: r.bottom,
      cx: (r.left + r.right) / 2, cy: (r.top + r.bottom) / 2 };
  }
  function setFocus(el) {
    if (!el) { return; }
    if (current) { removeClass(current, 'focused'); }
    current = el;
    addClass(el, 'focused');
    for (var w = 0; w < watchers.length; w++) { watchers[w](el); }
    if (el.scrollIntoView) {
      var r = el.getBoundingClientRect();
      var h = global.innerHeight || doc.documentElement.clientHeight;
      if (r.top < 0 || r.bottom > h) { el.scrollIntoView(false); }
    }
  }
  function queryParam(name) {
    var m = new RegExp('[?&]' + name + '=([^&#]*)').exec(global.location.search);
    return m ? decodeURIComponent(m[1].replace(/\+/g, ' ')) : '';
  }
  function initialFocus() {
    var wanted = queryParam('f');
    var el = wanted ? doc.getElementById(wanted) : null;
    var list;
    var i;
    if (!el || !hasClass(el, 'f')) {
      list = focusables();
      for (i = 0; i < list.length && !el; i++) {
        if (list[i].getAttribute('data-default-focus') !== null) { el = list[i]; }
      }
      if (!el && list.length) { el = list[0]; }
    }
    setFocus(el);
  }
  function nearest(from, dir) {
    var a = rect(from);
    var list = focusables();
    var best = null;
    var bestScore = Infinity;
    var i;
    for (i = 0; i < list.length; i++) {
      if (list[i] === from) { continue; }
      var b = rect(list[i]);
      var along;
      var side;
      if (dir === 'up') { along = a.top - b.bottom; side = Math.abs(a.cx - b.cx); if (b.cy >= a.cy) { continue; } }
      if (dir === 'down') { along = b.top - a.bottom; side = Math.abs(a.cx - b.cx); if (b.cy <= a.cy) { continue; } }
      if (dir === 'left') { along = a.left - b.right; side = Math.abs(a.cy - b.cy); if (b.cx >= a.cx) { continue; } }
      if (dir === 'right') { along = b.left - a.right; side = Math.abs(a.cy - b.cy); if (b.cx <= a.cx) { continue; } }
      var score = Math.max(along, 0) + 2 * side;
      if (score < bestScore) { bestScore = score; best = list[i]; }
    }
    return best;
  }
  function move(dir) {
    if (!current) { initialFocus(); return true; }
    var override = current.getAttribute('data-' + dir);
    if (override) {
      if (override === 'none') { return true; }
      if (override.charAt(0) === '@') { global.location.href = override.substring(1); return true; }
      if (override.charAt(0) === '#') {
        var target = doc.getElementById(override.substring(1));
        if (target) { setFocus(target); return true; }
      }
    }
    var next = nearest(current, dir);
    if (next) { setFocus(next); }
    return true;
  }
  function activate(el) {
    el = el || current;
    if (!el) { return false; }
    if (el.tagName === 'A' && el.href) {
      if (el.click) { el.click(); } else { global.location.href = el.href; }
      return true;
    }
    if (el.click) { el.click(); return true; }
    if (el.form) { el.form.submit(); return true; }
    return false;
  }

  global.TvNav = {
    init: initialFocus, move: move, activate: activate, focus: setFocus,
    current: function () { return current; }, focusables: focusables,
    onFocus: function (fn) { watchers.push(fn); },
    hasClass: hasClass, addClass: addClass, removeClass: removeClass, queryParam: queryParam
  };
}(this));
