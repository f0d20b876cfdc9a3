// The demo page: the <go-live> element, talking to the bridge that served it.
import "./golive.js";
