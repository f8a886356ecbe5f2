// SwiGLU: h = silu(gate) * up. Twins: native/cpu/swiglu.cpp, native/cuda/swiglu.cu.
import { native, NativeBuffer } from '../native';
import { Tensor, dtypeId } from '../tensor';
import { floatDType, sameDType, sameDevice, sameShape, tensorArg } from './check';

declare module '../native' {
  interface NativeAddon {
    swiglu(dt: number, n: number, gate: NativeBuffer, up: NativeBuffer, h: NativeBuffer): void;
    swigluBackward(
      dt: number, n: number, dh: NativeBuffer, gate: NativeBuffer, up: NativeBuffer, dgate: NativeBuffer,
      dup: NativeBuffer,
    ): void;
  }
}

/** h = silu(gate) · up = gate · sigmoid(gate) · up, elementwise (same shapes and dtype, f32 math). */
export function swiglu(gate: Tensor, up: Tensor): Tensor {
  const op = 'swiglu';
  tensorArg(op, 'gate', gate);
  tensorArg(op, 'up', up);
  sameDevice(op, gate, up);
  sameDType(op, gate, up);
  sameShape(op, gate, up);
  const dt = floatDType(op, gate);
  const h = Tensor.empty(gate.shape, { dtype: dt, device: gate.device });
  native().swiglu(dtypeId(dt), gate.size, gate.buffer(op), up.buffer(op), h.buffer(op));
  return h;
}

/** Backward of swiglu: dgate = dh · up · silu'(gate), dup = dh · silu(gate). */
export function swigluBackward(dh: Tensor, gate: Tensor, up: Tensor): { dgate: Tensor; dup: Tensor } {
  const op = 'swigluBackward';
  tensorArg(op, 'dh', dh);
  tensorArg(op, 'gate', gate);
  tensorArg(op, 'up', up);
  sameDevice(op, dh, gate, up);
  sameDType(op, dh, gate, up);
  sameShape(op, gate, up);
  sameShape(op, dh, gate);
  const dt = floatDType(op, gate);
  const dgate = Tensor.empty(gate.shape, { dtype: dt, device: gate.device });
  const dup = Tensor.empty(gate.shape, { dtype: dt, device: gate.device });
  native().swigluBackward(
    dtypeId(dt), gate.size, dh.buffer(op), gate.buffer(op), up.buffer(op), dgate.buffer(op), dup.buffer(op),
  );
  return { dgate, dup };
}
