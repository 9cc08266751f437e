/* Live parts of console pages: an element with data-live-url polls that JSON every data-poll seconds and,
   when its "version" differs from data-version, reloads itself from data-partial-url (plain ES5, no inline
   script, so the page works under a strict Content-Security-Policy; without JavaScript a meta refresh does). */
(function () {
  'use strict';
  if (!window.XMLHttpRequest || !window.JSON || !document.querySelector) { return; }

  function get(url, done) {
    var xhr = new XMLHttpRequest();
    xhr.open('GET', url, true);
    xhr.setRequestHeader('X-Requested-With', 'XMLHttpRequest');
    xhr.onreadystatechange = function () {
      if (xhr.readyState === 4) { done(xhr.status === 200 ? xhr.responseText : null); }
    };
    xhr.send(null);
  }

  function typingIn(box) {
    var el = document.activeElement;
    return !!(el && box.contains(el) && (el.tagName === 'TEXTAREA' || el.tagName === 'INPUT'));
  }

  function setCount(id, value) {
    var el = document.getElementById(id);
    if (el && typeof value === 'number') { el.textContent = String(value); }
  }

  function watch(id) {
    var box = document.getElementById(id);
    if (!box) { return; }
    var every = (parseInt(box.getAttribute('data-poll'), 10) || 15) * 1000;
    var baseTitle = document.title;
    function poll() {
      box = document.getElementById(id) || box;
      get(box.getAttribute('data-live-url'), function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (data) {
          document.title = (data.emergencies ? '(' + data.emergencies + ') ' : '') + baseTitle;
          if (data.counts) {
            setCount('count-open', data.counts.open);
            setCount('count-overdue', data.counts.overdue);
            setCount('count-supervised', data.counts.supervised);
            setCount('count-today-new', data.counts.today_new);
            setCount('count-today-resolved', data.counts.today_resolved);
          }
          if (data.version !== box.getAttribute('data-version') && !typingIn(box)) {
            get(box.getAttribute('data-partial-url'), function (html) {
              if (html === null) { return; }
              var holder = document.createElement('div');
              holder.innerHTML = html;
              var fresh = holder.querySelector('#' + id);
              if (fresh) { box.parentNode.replaceChild(fresh, box); box = fresh; }
            });
          } else {
            var stamp = box.querySelector('.live-time');
            if (stamp && data.now) { stamp.textContent = data.now; }
          }
        }
        window.setTimeout(poll, every);
      });
    }
    window.setTimeout(poll, every);
  }

  function start() { watch('emergencies'); }
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();

/* The menu and tables on any screen: open the "更多" drawer on a wide screen (where it is a row of groups),
   and give table cells their column's name so a phone can show each row as a card (see console.css). */
(function () {
  'use strict';
  if (!document.querySelectorAll) { return; }

  function openMenuWhenWide() {
    var more = document.getElementById('nav-more');
    if (more && window.matchMedia && window.matchMedia('(min-width: 900px)').matches) {
      more.setAttribute('open', '');
    }
  }

  function labelCells() {
    var tables = document.querySelectorAll('main table');
    for (var t = 0; t < tables.length; t++) {
      var heads = tables[t].querySelectorAll('thead th');
      if (!heads.length) { continue; }
      var rows = tables[t].querySelectorAll('tbody tr');
      for (var r = 0; r < rows.length; r++) {
        var cells = rows[r].children;
        for (var c = 0; c < cells.length && c < heads.length; c++) {
          var name = heads[c].textContent.replace(/^\s+|\s+$/g, '');
          if (name && !cells[c].hasAttribute('data-label')) { cells[c].setAttribute('data-label', name); }
        }
      }
    }
  }

  function start() { openMenuWhenWide(); labelCells(); }
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
