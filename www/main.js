// The page is the widget, full width. Embedders import widget/ directly.
import './widget/squish-playground.js';
