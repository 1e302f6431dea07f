// The example page listens to the widgets' events (an external script: the
// page's Content-Security-Policy allows no inline script).
const log = document.getElementById('events');
for (const type of ['loaded', 'compressed', 'compared', 'error']) {
  document.addEventListener(type, (e) => {
    if (e.target.localName !== 'squish-playground') return;
    const d = e.detail;
    const figures = type === 'compared' ? `agreement ${d.agreement}, ${d.sizes.original.raw} → ${d.sizes.compressed.raw} bytes`
      : type === 'loaded' ? d.name : type === 'compressed' ? `${d.bytes} bytes` : d.message;
    log.textContent += `${e.target.id}: ${type} (${figures})\n`;
  });
}
