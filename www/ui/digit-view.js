// An 8×8 grey-level digit (values 0..1), drawn as crisp blocks.
export function drawDigit(canvas, pixels, side = 8) {
  const ctx = canvas.getContext('2d');
  const cell = canvas.width / side;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  for (let i = 0; i < side * side; i++) {
    const v = Math.max(0, Math.min(1, pixels[i]));
    const g = Math.round(255 * (1 - v));
    ctx.fillStyle = `rgb(${g},${g},${g})`;
    ctx.fillRect((i % side) * cell, Math.floor(i / side) * cell, cell, cell);
  }
}
