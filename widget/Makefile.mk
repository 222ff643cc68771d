# The website chat widget (included by the Makefile: `include widget/Makefile.mk`).
#   make widget     build widget/dist/widget.js from widget/src (npm ci + esbuild), when stale
#   make chromium   install Debian chromium, chromium-driver and a CJK font for the browser tests
#   make test-browser  only the Playwright tests (tests/browser)
WIDGET_DIR := widget
WIDGET_JS := $(WIDGET_DIR)/dist/widget.js
WIDGET_SOURCES := $(wildcard $(WIDGET_DIR)/src/*.ts) $(WIDGET_DIR)/package.json \
  $(WIDGET_DIR)/package-lock.json $(WIDGET_DIR)/tsconfig.json
CHROMIUM ?= /usr/bin/chromium

.PHONY: widget widget-check chromium test-browser

$(WIDGET_DIR)/node_modules/.package-lock.json: $(WIDGET_DIR)/package.json $(WIDGET_DIR)/package-lock.json
	@command -v npm >/dev/null || { echo "npm (Node.js 18+) is needed to build the chat widget"; exit 1; }
	cd $(WIDGET_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(WIDGET_JS): $(WIDGET_SOURCES) $(WIDGET_DIR)/node_modules/.package-lock.json
	cd $(WIDGET_DIR) && npm run --silent check && npm run --silent build

widget: $(WIDGET_JS)

widget-check: $(WIDGET_DIR)/node_modules/.package-lock.json
	cd $(WIDGET_DIR) && npm run --silent check

chromium:
	@if [ -x "$(CHROMIUM)" ] && fc-list :lang=zh 2>/dev/null | grep -q .; then \
	  echo "Chromium: $$($(CHROMIUM) --version 2>/dev/null)"; else \
	  echo "Installing Debian chromium and a Chinese font for the browser tests ..."; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -q && \
	  $$SUDO apt-get install -y -q chromium chromium-driver fonts-wqy-microhei; fi

test-browser: install train env widget chromium
	MODEL=$(MODEL) $(VENV)/bin/pytest -q -m browser tests/browser
