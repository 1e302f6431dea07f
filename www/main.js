// The page is the widget, full width; files dropped anywhere on the page
// open in it. `?model=URL` opens that model instead of the demo (same
// origin, or a server that allows CORS). Embedders import widget/ directly.
const element = document.querySelector('squish-playground');
const model = new URLSearchParams(location.search).get('model');
if (model) element.setAttribute('model', model);
// Attributes first: the element reads them when it is defined.
await import('./widget/squish-playground.js');
