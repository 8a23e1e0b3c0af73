import { inspectFile } from '../../formats/inspect-file.js';
import type { Inspection } from '../../formats/inspector.js';
import { ImportPluginError, type ImportPlugin, type ImportPluginOptions, type PluginOutcome, type PluginRun } from './plugin-contract.js';
import { qemuImgConvert, qemuImgInfo, type QemuImgInfo } from './qemu-img.js';
import { newWorkFile, removeWorkFile, stagedFileAt } from './work-files.js';

/**
 * `image_conversion`: converts the staged image to `[image_conversion] output_format` with
 * qemu-img, as Glance's plugin does — after checking that qemu-img, told the declared
 * format, agrees with it and that the image is safe to open (no backing file, no external
 * data file, an allowed VMDK create-type).
 */

/** qemu-img's driver for each disk_format it can read; the others (ami, ari, aki, ploop) fail, as in Glance. */
const DRIVERS: Readonly<Record<string, string>> = { raw: 'raw', qcow2: 'qcow2', vmdk: 'vmdk', vhd: 'vpc', vhdx: 'vhdx', vdi: 'vdi' };

export type ConversionOptions = Pick<ImportPluginOptions, 'outputFormat' | 'vmdkAllowedTypes' | 'maxBytes'>;

export class ImageConversionPlugin implements ImportPlugin {
  readonly name = 'image_conversion';

  constructor(private readonly options: ConversionOptions) {}

  async run({ staged, image, workDir, signal }: PluginRun): Promise<PluginOutcome> {
    const source = image.disk_format;
    if (source === null) throw new ImportPluginError('Image conversion needs a disk_format, and the image has none');
    // What the bytes are, from the format inspector, before qemu-img opens anything.
    const inspection = await inspectFile(staged.path, signal);
    if (source === 'iso') {
      // Glance keeps ISOs as they are (a CD image converted to a disk would not boot as one).
      refuseHiddenFormats(inspection, 'iso', 'the image');
      return {};
    }
    const driver = DRIVERS[source];
    if (driver === undefined) throw new ImportPluginError(`Image conversion cannot read disk_format '${source}'`);
    if (driver === 'raw') refuseHiddenFormats(inspection, 'raw', 'the image');
    this.refuseExternalFiles(inspection, driver);
    const info = await qemuImgInfo(staged.path, driver, signal);
    if (info.format !== driver) throw new ImportPluginError(`Image metadata disagrees about format: claimed ${source}, qemu-img reports ${info.format}`);
    this.refuseUnsafe(info);

    const target = this.options.outputFormat;
    if (source === target) return { changes: { virtual_size: info.virtualSize } };
    // A raw output is as long as the virtual disk: refuse before writing terabytes of zeros.
    if (target === 'raw' && info.virtualSize > this.options.maxBytes) {
      throw new ImportPluginError(`Image's virtual size ${info.virtualSize} is over the size cap of ${this.options.maxBytes} bytes`);
    }
    const dest = newWorkFile(workDir, `converted.${target}`);
    try {
      await qemuImgConvert(staged.path, driver, dest, DRIVERS[target]!, signal);
      // Someone may have hidden one image inside another: the guest disk of a qcow2 may itself
      // be a qcow2 with a backing file, which a raw output would hand on as "raw".
      if (target === 'raw') refuseHiddenFormats(await inspectFile(dest, signal), 'raw', 'the converted image');
      const out = await qemuImgInfo(dest, DRIVERS[target]!, signal);
      if (out.format !== DRIVERS[target]) throw new ImportPluginError(`Converted image in unexpected format ${out.format}`);
      const result = await stagedFileAt(dest);
      if (result.size > this.options.maxBytes) throw new ImportPluginError(`Converted image of ${result.size} bytes is over the size cap of ${this.options.maxBytes} bytes`);
      return { staged: result, changes: { disk_format: target, container_format: 'bare', virtual_size: out.virtualSize } };
    } catch (err) {
      await removeWorkFile(dest);
      throw err;
    }
  }

  /**
   * Glance has its format inspector refuse these before qemu-img runs, because qemu-img opens
   * the files an image names as it opens the image: the same refusals, from the header.
   */
  private refuseExternalFiles(inspection: Inspection, driver: string): void {
    const failed = (check: string) => inspection.failures.some((f) => f.check === check);
    if (driver === 'qcow2' && inspection.format === 'qcow2') {
      if (failed('backing_file')) throw new ImportPluginError('QCOW images with backing files are not allowed');
      if (failed('data_file')) throw new ImportPluginError('QCOW images with data-file set are not allowed');
    }
    if (driver === 'vmdk' && inspection.format === 'vmdk' && failed('descriptor_file')) {
      this.refuseVmdkType(inspection.subformat);
      // An allowed type, but its extents are other files, and an imported image is one file.
      throw new ImportPluginError(`VMDK descriptor files are not allowed (create-type '${inspection.subformat}' keeps its data in other files)`);
    }
  }

  private refuseVmdkType(createType: string | null): void {
    const allowed = this.options.vmdkAllowedTypes;
    if (createType === null) throw new ImportPluginError('Unable to determine VMDK create-type');
    if (allowed.length === 0) throw new ImportPluginError('Image is a VMDK, but no VMDK createType is allowed ([image_format] vmdk_allowed_types is empty)');
    if (!allowed.includes(createType)) throw new ImportPluginError(`Invalid VMDK create-type '${createType}' (allowed: ${allowed.join(', ')})`);
  }

  /** Glance's refusals: what qemu-img would follow outside the file, and VMDK types beyond the allowed ones. */
  private refuseUnsafe(info: QemuImgInfo): void {
    if (info.backingFilename !== null) throw new ImportPluginError('QCOW images with backing files are not allowed');
    if (info.dataFile !== null) throw new ImportPluginError('QCOW images with data-file set are not allowed');
    if (info.format === 'vmdk') this.refuseVmdkType(info.vmdkCreateType);
  }
}

/** `expected` = 'raw': no disk-format signature (a partition table is a raw disk's); 'iso': an ISO 9660 volume and nothing else. */
function refuseHiddenFormats(inspection: Inspection, expected: 'raw' | 'iso', what: string): void {
  const found = [inspection.format, ...inspection.alsoMatched];
  const others = found.filter((f) => f !== expected && f !== 'raw' && f !== 'gpt');
  if (others.length > 0) throw new ImportPluginError(`Image has disallowed configuration: ${what} should be ${expected} but carries a ${others.join(' and ')} header`);
  if (expected === 'iso' && !found.includes('iso')) throw new ImportPluginError('Image format mismatch: claimed iso, but there is no ISO 9660 volume descriptor');
}
