import { Probe } from './probe.js';

const MAGIC = Buffer.from('QED\x00', 'latin1');

/** QEMU enhanced disk: recognised only to be refused, as Glance does — nobody uses it and it has backing files. */
export class QedProbe extends Probe {
  readonly format = 'qed';

  constructor() {
    super();
    this.want(0, 4, 'qed magic', (magic) => {
      if (!magic.equals(MAGIC)) return this.reject();
      this.matched = true;
      this.fail('banned', 'This file format (QED) is not allowed');
      this.stop();
    });
  }
}
