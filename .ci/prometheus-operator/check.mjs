// Validates the prometheus-operator objects (PrometheusRule, ServiceMonitor, PodMonitor)
// in Kubernetes YAML files against the operator's CRD schemas, as packaged by
// @kubernetes-models/prometheus-operator.
//   node check.mjs FILE...   → exit 0 all valid, 1 an invalid object, 2 usage
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import {
  PodMonitor,
  PrometheusRule,
  ServiceMonitor,
} from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";

const kinds = { PrometheusRule, ServiceMonitor, PodMonitor };
const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node check.mjs FILE...");
  process.exit(2);
}
let failed = false;
let checked = 0;
for (const file of files) {
  for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
    const obj = doc.toJS();
    if (!obj || obj.apiVersion !== "monitoring.coreos.com/v1") continue;
    const Model = kinds[obj.kind];
    if (!Model) {
      console.log(`${file}: ${obj.kind}: no schema`);
      failed = true;
      continue;
    }
    try {
      new Model(obj).validate();
      console.log(`${file}: ${obj.kind}/${obj.metadata?.name}: ok`);
      checked++;
    } catch (e) {
      console.log(`${file}: ${obj.kind}/${obj.metadata?.name}: ${e.message}`);
      failed = true;
    }
  }
}
console.log(`${checked} prometheus-operator objects valid`);
process.exit(failed ? 1 : 0);
