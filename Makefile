# The front door. npm scripts are the source of truth; these targets only make sure the
# dependencies (including the pinned Node 24 from the `node` devDependency) are installed first.
.PHONY: install console run test bench generate typecheck clean

# npm writes node_modules/.package-lock.json after every install: a cheap "installed" stamp.
node_modules/.package-lock.json: package.json package-lock.json */package.json
	npm ci --no-audit --no-fund

install: node_modules/.package-lock.json

# The console is rebuilt only when its sources change.
console/dist/index.html: node_modules/.package-lock.json console/index.html console/vite.config.ts $(shell find console/src console/public -type f 2>/dev/null)
	npm run build:console

console: console/dist/index.html

## Run the API server on the embedded store (HQ_LISTEN, default 127.0.0.1:8080; data in ./.hq),
## with the web console at https://127.0.0.1:8080/.
run: install console
	npm start

## Every test: generated files up to date, type check, unit, integration and end-to-end tests.
test: install
	npm test

## Benchmarks; results go to docs/benchmarks.md.
bench: install
	npm run bench

## Regenerate OpenAPI and CRDs from schemas/.
generate: install
	npm run generate

typecheck: install
	npm run typecheck

clean:
	rm -rf node_modules */node_modules .hq console/dist
