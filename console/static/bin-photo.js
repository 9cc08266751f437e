/* The bin label page (/q/<token>): a photo chosen for a report is redrawn on the phone before it is sent — at most
   1600 px on its longer side, as JPEG. A camera photo of 3–8 MB becomes a few hundred KB, which a rural
   mobile connection sends in seconds; re-encoding also drops the camera's metadata (GPS position, phone model),
   while the browser applies the photo's rotation when it draws it. Plain ES5, no inline script. Anything missing
   (canvas.toBlob, DataTransfer, File) or failing leaves the original file in the form: the server checks it and the
   report never depends on this script. */
(function () {
  'use strict';
  var MAX_SIDE = 1600;
  var QUALITY = 0.82;
  var input = document.getElementById('photo');
  if (!input || !window.File || !window.FileReader || typeof window.DataTransfer !== 'function') {
    return;
  }
  var probe = document.createElement('canvas');
  if (!probe.getContext || !probe.toBlob) { return; }

  function replaceFile(blob) {
    try {
      var list = new DataTransfer();
      list.items.add(new File([blob], 'photo.jpg', { type: 'image/jpeg' }));
      input.files = list.files;
      input.setAttribute('data-shrunk', String(blob.size));
    } catch (e) { /* keep the original */ }
  }

  function redraw(file, source, width, height) {
    var scale = Math.min(1, MAX_SIDE / Math.max(width, height));
    var canvas = document.createElement('canvas');
    canvas.width = Math.round(width * scale);
    canvas.height = Math.round(height * scale);
    var context = canvas.getContext('2d');
    context.fillStyle = '#fff';  // a transparent PNG gets a white background, not black
    context.fillRect(0, 0, canvas.width, canvas.height);
    context.drawImage(source, 0, 0, canvas.width, canvas.height);
    canvas.toBlob(function (blob) {
      if (blob && blob.size > 0 && input.files && input.files[0] === file) { replaceFile(blob); }
    }, 'image/jpeg', QUALITY);
  }

  // The page's Content-Security-Policy allows data: images but not blob: ones: decode with createImageBitmap
  // where there is one, else through a data: URL.
  function decode(file) {
    if (typeof window.createImageBitmap === 'function') {
      window.createImageBitmap(file).then(function (bitmap) {
        if (bitmap.width && bitmap.height) { redraw(file, bitmap, bitmap.width, bitmap.height); }
      }, function () { /* not an image the browser can read: the server judges the original */ });
      return;
    }
    var reader = new FileReader();
    reader.onload = function () {
      var img = new Image();
      img.onload = function () {
        if (img.naturalWidth && img.naturalHeight) { redraw(file, img, img.naturalWidth, img.naturalHeight); }
      };
      img.src = reader.result;
    };
    reader.readAsDataURL(file);
  }

  input.addEventListener('change', function () {
    var file = input.files && input.files[0];
    input.removeAttribute('data-shrunk');
    if (file && /^image\//.test(file.type || '')) { decode(file); }
  });
}());
