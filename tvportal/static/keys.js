/* TvKeys: maps remote-control key codes to actions (ES5, no dependencies).
 * Listens to keydown and to keypress (some iPanel builds send only keypress) without double-firing:
 * a keypress that follows a handled keydown of the same action is ignored. */
(function (global) {
  'use strict';
  var MAP = {
    37: 'left', 38: 'up', 39: 'right', 40: 'down', 13: 'ok',
    8: 'back', 27: 'back', 461: 'back', 10009: 'back', 340: 'back', 640: 'back',
    403: 'red', 404: 'green', 405: 'yellow', 406: 'blue',
    275: 'red', 276: 'green', 277: 'yellow', 278: 'blue',
    2305: 'red', 2306: 'green', 2307: 'yellow', 2308: 'blue'
  };
  var i;
  for (i = 0; i <= 9; i++) {
    MAP[48 + i] = 'digit' + i;
    MAP[96 + i] = 'digit' + i; /* numeric keypad */
  }

  function codeOf(evt) {
    var code = evt.keyCode || evt.which || evt.charCode || 0;
    if (evt.type === 'keypress' && evt.charCode) {
      code = evt.charCode;
    }
    return code;
  }

  function actionFor(code) {
    return MAP.hasOwnProperty(code) ? MAP[code] : null;
  }

  function listen(target, handler) {
    var lastDown = null;
    function onKey(evt) {
      var action = actionFor(codeOf(evt));
      if (evt.type === 'keypress') {
        if (action !== null && action === lastDown) {
          lastDown = null;
          if (evt.preventDefault) { evt.preventDefault(); }
          return;
        }
      }
      if (action === null) { return; }
      if (evt.type === 'keydown') { lastDown = action; }
      if (handler(action, evt) === true && evt.preventDefault) {
        evt.preventDefault();
      }
    }
    function onKeyUp() { lastDown = null; }
    if (target.addEventListener) {
      target.addEventListener('keydown', onKey, false);
      target.addEventListener('keypress', onKey, false);
      target.addEventListener('keyup', onKeyUp, false);
    } else {
      target.onkeydown = onKey;
      target.onkeypress = onKey;
      target.onkeyup = onKeyUp;
    }
  }

  global.TvKeys = { map: MAP, actionFor: actionFor, codeOf: codeOf, listen: listen };
}(this));
