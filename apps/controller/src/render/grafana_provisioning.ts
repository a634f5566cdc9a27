// Grafana provisioning: the Prometheus data source and a provider that loads the vnetlab
// dashboards from a directory.
import { toYaml } from './yaml_text.js';

export function grafanaDatasource(prometheusUrl: string): string {
  return toYaml({
    apiVersion: 1,
    datasources: [{ name: 'Prometheus', uid: 'vnetlab-prometheus', type: 'prometheus', access: 'proxy', url: prometheusUrl, isDefault: true, jsonData: { timeInterval: '2s' } }],
  });
}

export function grafanaDashboardProvider(dir: string): string {
  return toYaml({
    apiVersion: 1,
    providers: [{ name: 'vnetlab', folder: 'vnetlab', type: 'file', disableDeletion: true, allowUiUpdates: false, options: { path: dir } }],
  });
}
