/* The alert board polls for changes and swaps in the new board (a file, not inline: the console's CSP allows no inline script). */
(function () {
  var box = document.getElementById('alert-board');
  if (!box || !window.XMLHttpRequest || !window.JSON) { return; }
  var version = box.getAttribute('data-version');
  var every = (parseInt(box.getAttribute('data-poll'), 10) || 5) * 1000;
  var baseTitle = document.title;
  function get(url, done) {
    var xhr = new XMLHttpRequest();
    xhr.open('GET', url, true);
    xhr.setRequestHeader('X-Requested-With', 'XMLHttpRequest');
    xhr.onreadystatechange = function () {
      if (xhr.readyState === 4) { done(xhr.status === 200 ? xhr.responseText : null); }
    };
    xhr.send(null);
  }
  function typing() {
    var el = document.activeElement;
    if (el && (el.tagName === 'TEXTAREA' || el.tagName === 'INPUT')) { return true; }
    var notes = box.getElementsByTagName('textarea');
    for (var i = 0; i < notes.length; i++) { if (notes[i].value) { return true; } }
    return false;
  }
  function setText(id, text) {
    var el = document.getElementById(id);
    if (el) { el.innerHTML = ''; el.appendChild(document.createTextNode(text)); }
  }
  function poll() {
    get(box.getAttribute('data-live-url'), function (text) {
      var data = null;
      try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
      if (!data) {
        setText('board-time', box.getAttribute('data-lost-text'));
      } else {
        setText('board-time', data.now.substring(11));
        document.title = (data.count ? '(' + data.count + ') ' : '') + baseTitle;
        if (data.version !== version) {
          if (typing()) {
            document.getElementById('board-changed').style.display = 'block';
          } else {
            get(box.getAttribute('data-partial-url'), function (html) {
              if (html !== null) { box.innerHTML = html; version = data.version; }
            });
          }
        }
      }
      window.setTimeout(poll, every);
    });
  }
  window.setTimeout(poll, every);
})();
