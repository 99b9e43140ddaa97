/**
 * Devices. Only `cpu` exists now; a `cuda` device will implement the same interface (its own
 * allocator and kernels) and tensors will carry which one holds their storage.
 */
export interface Device {
  /** "cpu" or, later, "cuda:0" etc. */
  readonly name: string;
  readonly type: "cpu" | "cuda";
  toString(): string;
}

class CpuDevice implements Device {
  readonly name = "cpu";
  readonly type = "cpu" as const;
  toString(): string {
    return "cpu";
  }
}

export const cpu: Device = new CpuDevice();

/** Looks up a device by name; clear error for devices this build does not have. */
export function device(name: string): Device {
  if (name === "cpu") return cpu;
  throw new Error(`device '${name}' is not available (this build has: cpu)`);
}
