// What the browser tests run in the page (tests/browser/test_frontend.py): a tus-js-client
// upload, and a media element pointed at a URL. Each returns a Promise of plain data.

window.tusUpload = ({ endpoint, token, text, filename, options }) =>
  new Promise((resolve, reject) => {
    const file = new Blob([text], { type: "text/plain" });
    const upload = new tus.Upload(file, {
      endpoint,
      headers: { Authorization: `Bearer ${token}` },
      metadata: { filename, filetype: "text/plain" },
      retryDelays: [],
      ...options,
      onSuccess: ({ lastResponse }) =>
        resolve({ url: upload.url, assetId: lastResponse.getHeader("Asset-Id") }),
      onError: (error) => reject(new Error(String(error))),
    });
    upload.start();
  });

// Which of error / loadedmetadata the element fires first, with its error code if any.
window.mediaOutcome = ({ tag, src, timeoutMs }) =>
  new Promise((resolve) => {
    const element = document.createElement(tag);
    element.preload = "auto";
    const timer = setTimeout(() => resolve({ event: "timeout" }), timeoutMs);
    const done = (event) => {
      clearTimeout(timer);
      resolve({ event, code: element.error ? element.error.code : null });
    };
    element.addEventListener("error", () => done("error"));
    element.addEventListener("loadedmetadata", () => done("loadedmetadata"));
    element.src = src;
    document.body.appendChild(element);
  });
