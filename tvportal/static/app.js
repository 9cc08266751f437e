/* TV page behaviour (ES5): keys → actions, digit shortcuts, Back to the parent URL, the one-key-call
 * countdown, status polling, pairing polling, 读给我听 and 语音导读. Every action here also exists as a
 * real link or form, so a box whose script fails still works with its native focus. */
(function (global) {
  'use strict';
  var doc = global.document;
  var body = doc.body;
  var Nav = global.TvNav;
  var submitted = false;

  function attr(name) { return body.getAttribute(name) || ''; }
  function go(url) { if (url) { global.location.href = url; } }
  function byKey(digit) {
    var all = doc.getElementsByTagName('*');
    var i;
    for (i = 0; i < all.length; i++) {
      if (all[i].getAttribute('data-key') === digit) { return all[i]; }
    }
    return null;
  }
  function getJson(url, done) {
    var xhr = new XMLHttpRequest();
    xhr.open('GET', url, true);
    xhr.onreadystatechange = function () {
      if (xhr.readyState !== 4) { return; }
      if (xhr.status === 200) {
        try { done(JSON.parse(xhr.responseText)); } catch (e) { done(null); }
      } else { done(null); }
    };
    xhr.send(null);
  }
  function setText(id, text) {
    var el = doc.getElementById(id);
    if (el) { el.innerHTML = ''; el.appendChild(doc.createTextNode(text)); }
  }

  /* Forms: one submission only (a double OK press must not post twice). */
  function guardForms() {
    var forms = doc.getElementsByTagName('form');
    var i;
    for (i = 0; i < forms.length; i++) {
      forms[i].onsubmit = function () {
        if (submitted) { return false; }
        submitted = true;
        return true;
      };
    }
  }

  /* 读给我听 and 再听一遍: play the cached audio in the page. */
  function playAudio(el) {
    var player = doc.getElementById('player');
    if (!player) { return false; }
    var url = el.getAttribute('data-audio');
    if (player.getAttribute('src') !== url) { player.setAttribute('src', url); }
    try { player.currentTime = 0; } catch (e) { /* not loaded yet */ }
    if (player.play) { player.play(); }
    setText('audio-state', attr('data-reading')); /* 正在朗读…, translated by the page */
    return true;
  }
  /* "正在朗读…" only while the player really plays (autoplay included); cleared when it ends or
   * stops, replaced by a plain sentence when the audio cannot be played. */
  function watchPlayer() {
    var player = doc.getElementById('player');
    if (!player || !player.addEventListener) { return; }
    player.addEventListener('playing', function () { setText('audio-state', attr('data-reading')); }, false);
    player.addEventListener('ended', function () { setText('audio-state', ''); }, false);
    player.addEventListener('pause', function () { setText('audio-state', ''); }, false);
    player.addEventListener('error', function () { setText('audio-state', attr('data-audio-failed')); }, false);
  }

  /* 语音导读: when the page carries data-say (the box has the guide on) every focus move plays the
   * focused element's clip through one <audio>; a new move cuts the previous clip. Without data-say
   * nothing here runs: no element, no request. */
  var guide = null;
  function spokenText(el) {
    var said = el.getAttribute('data-say') || el.getAttribute('aria-label') || el.getAttribute('data-detail');
    var parts = [];
    var child;
    if (said) { return said; }
    for (child = el.firstChild; child; child = child.nextSibling) {
      if (child.nodeType === 1 && !Nav.hasClass(child, 'key') && child.tagName !== 'INPUT') {
        parts.push(child.textContent || child.innerText || '');
      } else if (child.nodeType === 3) {
        parts.push(child.nodeValue);
      }
    }
    return parts.join('|');
  }
  var intro = attr('data-say-intro'); /* the home's name, points and rank: said once, before the first tile */
  function speakFocused(el) {
    var base = attr('data-say');
    var text = el ? spokenText(el).replace(/^\s+|\s+$/g, '') : '';
    if (intro && text) { text = intro + '|' + text; intro = ''; }
    var reader = doc.getElementById('player');
    if (!base || !text) { return; }
    if (!guide) {
      guide = doc.createElement('audio');
      guide.id = 'guide-player';
      guide.preload = 'auto';
      body.appendChild(guide);
    }
    if (reader && reader.pause && !reader.paused) { reader.pause(); }
    if (guide.pause) { guide.pause(); }
    guide.setAttribute('src', base + (base.indexOf('?') >= 0 ? '&' : '?') + 'x=' + encodeURIComponent(text));
    if (guide.play) {
      var started = guide.play();
      if (started && started['catch']) { started['catch'](function () { /* cut by the next move */ }); }
    }
  }
  /* The blue key switches the guide on or off on any page (the home tile does the same): the hidden
   * form comes back to this page with the focus where it was. */
  function toggleGuide() {
    var form = doc.getElementById('voice-form');
    var el = Nav.current();
    if (!form || submitted) { return false; }
    var back = form.elements.back;
    if (back && back.value && el && el.id) {
      back.value = back.value.replace(/([?&])f=[^&]*&?/, '$1').replace(/[?&]$/, '');
      back.value += (back.value.indexOf('?') >= 0 ? '&' : '?') + 'f=' + encodeURIComponent(el.id);
    }
    submitted = true;
    form.submit();
    return true;
  }

  function onAction(action) {
    var el;
    if (action === 'up' || action === 'down' || action === 'left' || action === 'right') {
      return Nav.move(action);
    }
    if (action === 'ok') {
      el = Nav.current();
      if (el && el.getAttribute('data-audio')) { return playAudio(el); }
      return Nav.activate(el);
    }
    if (action === 'back') {
      if (countdownTimer) { global.clearInterval(countdownTimer); countdownTimer = null; }
      go(attr('data-back'));
      return true;
    }
    if (action === 'digit0' || action === 'red') {
      if (attr('data-call')) { go(attr('data-call')); return true; }
      return false;
    }
    if (action === 'green') { go(attr('data-home')); return true; }
    if (action === 'blue') { return toggleGuide(); }
    if (action.indexOf('digit') === 0) {
      el = byKey(action.substring(5));
      if (el) { Nav.focus(el); return Nav.activate(el); }
    }
    return false;
  }

  /* One-key call: a big countdown; Back cancels it; at zero the real form is submitted. */
  var countdownTimer = null;
  function startCountdown() {
    var el = doc.getElementById('countdown');
    var form = doc.getElementById('call-form');
    if (!el || !form) { return; }
    var left = parseInt(el.getAttribute('data-seconds'), 10) || 5;
    countdownTimer = global.setInterval(function () {
      left -= 1;
      setText('countdown', String(Math.max(left, 0)));
      if (left <= 0) {
        global.clearInterval(countdownTimer);
        countdownTimer = null;
        if (!submitted) { submitted = true; form.submit(); }
      }
    }, 1000);
  }

  function hide(el) {
    if (!el) { return; }
    if (Nav.current() === el) { Nav.focus(doc.getElementById('home')); }
    Nav.addClass(el, 'gone');
    Nav.removeClass(el, 'f');
  }
  /* The help call's current step in large words, the three before it (the page has room for no more)
   * and, once it is over, the outcome and 再呼叫一次. */
  function renderSteps(status) {
    var list = doc.getElementById('steps');
    var i;
    if (!list || !status || !status.steps) { return; }
    list.innerHTML = '';
    for (i = Math.max(0, status.steps.length - 4); i < status.steps.length - 1; i++) {
      var li = doc.createElement('li');
      li.appendChild(doc.createTextNode(status.steps[i]));
      list.appendChild(li);
    }
    setText('current-step', status.current);
    if (!status.cancellable) { hide(doc.getElementById('cancel-call')); }
    if (status.ended) {
      var title = doc.getElementById('call-title');
      var again = doc.getElementById('call-again');
      if (title) { setText('call-title', title.getAttribute('data-ended')); }
      hide(doc.getElementById('call-goes-on'));
      if (again && !Nav.hasClass(again, 'f')) {
        Nav.removeClass(again, 'gone');
        Nav.addClass(again, 'f');
        if (status.status === 'failed') { Nav.focus(again); }
      }
    }
  }
  function pollStatus() {
    var url = attr('data-status-url');
    if (!url) { return; }
    var wait = (parseInt(attr('data-poll'), 10) || 2) * 1000;
    function tick() {
      getJson(url, function (status) {
        if (status) { renderSteps(status); }
        if (!status || status.active) { global.setTimeout(tick, wait); }
      });
    }
    global.setTimeout(tick, wait);
  }
  function pollPairing() {
    var url = attr('data-pair-url');
    if (!url) { return; }
    var wait = (parseInt(attr('data-poll'), 10) || 3) * 1000;
    function tick() {
      getJson(url, function (status) {
        if (status && status.paired) { go(status.home); return; }
        if (status && status.code) { /* a fresh code shortly before the shown one expires */
          var shown = doc.getElementById('pair-code');
          if (shown && shown.getAttribute('aria-label')) {
            shown.setAttribute('aria-label', shown.getAttribute('aria-label').replace(/\d{6}/, status.code));
          }
          setText('pair-code', status.code);
          setText('pair-valid', status.valid_until);
        }
        global.setTimeout(tick, wait);
      });
    }
    global.setTimeout(tick, wait);
  }

  /* A list row shows its text shortened to one line; the focused row's full text goes below the list. */
  Nav.onFocus(function (el) {
    if (doc.getElementById('row-detail')) { setText('row-detail', el.getAttribute('data-detail') || ''); }
  });
  if (attr('data-say')) { Nav.onFocus(speakFocused); }
  Nav.init();
  guardForms();
  watchPlayer();
  global.TvKeys.listen(doc, onAction);
  startCountdown();
  pollStatus();
  pollPairing();
  global.TvApp = { onAction: onAction, spokenText: spokenText, ready: true };
}(this));
