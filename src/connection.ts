/**
 * `IpcConnection`: one end of a bidirectional request/response channel over a
 * {@link Transport}. It owns the pending-call map, timeouts, cancellation, batching of
 * outgoing frames and close semantics. The rule it keeps: every call settles exactly
 * once — with a result, a remote error, a timeout, an abort, or the close reason.
 */
import { AbortGroups, type AbortGroup, type SignalMember } from './abort-groups.ts';
import { DeadlineQueue, type DeadlineLane, type Expirable } from './deadlines.ts';
import { deserializeError, serializeError, type WireError } from './error-codec.ts';
import {
  AbortError,
  ConnectionClosedError,
  DataCloneError,
  DeadlockError,
  MessageTooLargeError,
  ProtocolError,
  TimeoutError,
  TooManyCallsError,
  UnknownMethodError,
} from './errors.ts';
import { refuseDeeperThan } from './transports/nesting-guard.ts';
import { checkCallOptions, checkCommand, checkMs, checkOptionsObject, invalidArgument, invalidOption } from './invalid-option.ts';
import { Outbox } from './outbox.ts';
import { payloadBytes, wireErrorTooLarge } from './payload-size.ts';
import { PendingTable } from './pending-table.ts';
import type { Transport } from './transports/transport.ts';
import { BYTES_PAYLOAD, FrameKind, MAX_REQUEST_ID, frameEnd, isLaterRequestId, isRequestId, type Batch } from './wire.ts';
import { isPromiseLike } from './promise-like.ts';
import type { CallOutcome, ConnectionObserver } from './observability/call-observer.ts';

/** What a request handler learns about the call it serves. */
export interface IncomingCall {
  /** The caller's request id. */
  readonly id: number;
  /** The command or method name. */
  readonly command: string;
  /** Aborted when the caller cancels the call (timeout, `AbortSignal`) or the connection closes. */
  readonly signal: AbortSignal;
}

/**
 * Serves one command. `payload` is the args array of a typed call or the `Uint8Array`
 * of a byte-layer call. Handlers that declare a second parameter receive the
 * {@link IncomingCall} (and so can observe cancellation); others skip that cost.
 */
export type Handler = (payload: unknown, call: IncomingCall) => unknown;

/** Looks up handlers by command name. A `Map` is one. */
export interface HandlerTable {
  /** The handler serving `command`, or `undefined` if this end does not serve it (the caller then gets `UnknownMethodError`). */
  get(command: string): Handler | undefined;
}

/**
 * Per-call options of the byte layer and the typed layer. Checked at the call: other
 * keys, a bad `timeoutMs` or a `signal` that is not an `AbortSignal` reject it with a
 * `TypeError` (code `ERR_AGENT_IPC_INVALID_ARGUMENT`) before anything is sent.
 */
export interface CallOptions {
  /**
   * Rejects with `TimeoutError` after this many ms (`0` = no timeout; at most 2^31 - 1).
   * Overrides the connection's default.
   */
  timeoutMs?: number;
  /** Aborting it rejects the call with `AbortError` and tells the other side to stop. */
  signal?: AbortSignal;
}

/**
 * Options of an {@link IpcConnection}. Checked by the constructor: a key it does not know,
 * or a value of the wrong type or out of range, is a `TypeError` (code
 * `ERR_AGENT_IPC_INVALID_ARGUMENT`) naming the option. An option set to `undefined` takes
 * its default.
 */
export interface IpcConnectionOptions {
  /**
   * Serves requests from the other side: a `Map` or any object with a `get(command)`
   * method. Without it every request gets `UnknownMethodError`.
   */
  handlers?: HandlerTable;
  /** Receives one-way NOTIFY frames (control messages of the layers above). Without it they are dropped. */
  onNotify?: (command: string, payload: unknown) => void;
  /** Default timeout of outgoing calls in ms; `0` (the default) means none; at most 2^31 - 1. */
  timeoutMs?: number;
  /** Names the other end in error messages, e.g. `agent 'peer-1'` (a non-empty string; default `the other side`). */
  peerName?: string;
  /** Whether pending timeouts may not keep the process alive (default `false`: they keep it alive). */
  unrefTimers?: boolean;
  /**
   * Largest payload sent, in bytes: a positive integer, or `Infinity` (the default: no limit). Between threads the check counts
   * byte arrays and strings near the top of a payload (see `payload-size.ts`); a call
   * over the limit rejects at its call site, an answer over it becomes an error.
   */
  maxMessageBytes?: number;
  /**
   * Most calls in flight per direction, a positive integer (default 65,536): further outgoing calls reject
   * with `TooManyCallsError` at once, and the other side's calls beyond it are answered
   * with that error instead of being started.
   */
  maxInFlight?: number;
  /**
   * Deepest nesting of the values sent, a positive integer, or `Infinity` (the default:
   * no limit). A value nested deeper fails alone, as one that cannot be cloned does: a
   * call rejects at its call site with `DataCloneError`, an answer becomes that error.
   * For an end whose peer rebuilds values with less stack than this end has (an agent's
   * worker thread has 4 MB, the node's main thread ~1 MB; see `nesting-guard.ts`).
   * Only batches holding an object are walked.
   */
  maxSentDepth?: number;
  /**
   * Sees every call start and settle, both ways (stats, tracing and metrics of agents
   * are built on it). Absent: nothing is observed, at no cost.
   */
  observer?: ConnectionObserver;
}

/** Default of {@link IpcConnectionOptions.maxInFlight}. */
export const DEFAULT_MAX_IN_FLIGHT = 65_536;

/** The keys {@link IpcConnectionOptions} has. */
const CONNECTION_OPTIONS = ['handlers', 'onNotify', 'timeoutMs', 'peerName', 'unrefTimers', 'maxMessageBytes', 'maxInFlight', 'maxSentDepth', 'observer'] as const;

/** The methods a {@link ConnectionObserver} must have (`run` is optional). */
const OBSERVER_METHODS = ['outgoingStarted', 'outgoingSettled', 'incomingStarted', 'incomingPending', 'incomingSettled'] as const;

/** Whether `value` is an object whose `name` property is a function. */
function hasMethod(value: unknown, name: string): boolean {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as Record<string, unknown>)[name] === 'function';
}

/**
 * Checks the transport and options of an {@link IpcConnection} (as `spawnAgent` checks
 * its own): throws the `TypeError` of the first bad one. A mistake here would otherwise
 * surface late and far away — a `handlers` without `get` as a crash on the first
 * request, a `maxInFlight` of `'10'` or `NaN` as no limit, a misspelt key as nothing.
 */
function checkConnectionArguments(transport: unknown, options: unknown): IpcConnectionOptions {
  if (!hasMethod(transport, 'attach') || !hasMethod(transport, 'send') || !hasMethod(transport, 'close')) {
    throw invalidArgument(`the transport of an IpcConnection must be a Transport (attach, send and close methods), got ${transport === null ? 'null' : typeof transport}`);
  }
  const o = checkOptionsObject(options, CONNECTION_OPTIONS) ?? {};
  if (o.handlers !== undefined && !hasMethod(o.handlers, 'get')) throw invalidOption('handlers', 'a HandlerTable (a Map, or an object with a get(command) method)', o.handlers);
  if (o.onNotify !== undefined && typeof o.onNotify !== 'function') throw invalidOption('onNotify', 'a function', o.onNotify);
  if (o.timeoutMs !== undefined) checkMs('timeoutMs', o.timeoutMs);
  if (o.peerName !== undefined && (typeof o.peerName !== 'string' || o.peerName.length === 0)) throw invalidOption('peerName', 'a non-empty string', o.peerName);
  if (o.unrefTimers !== undefined && typeof o.unrefTimers !== 'boolean') throw invalidOption('unrefTimers', 'a boolean', o.unrefTimers);
  const bytes = o.maxMessageBytes;
  if (bytes !== undefined && bytes !== Infinity && (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes < 1)) {
    throw invalidOption('maxMessageBytes', 'a positive integer number of bytes, or Infinity (no limit)', bytes);
  }
  const inFlight = o.maxInFlight;
  if (inFlight !== undefined && (typeof inFlight !== 'number' || !Number.isSafeInteger(inFlight) || inFlight < 1)) throw invalidOption('maxInFlight', 'a positive integer', inFlight);
  const depth = o.maxSentDepth;
  if (depth !== undefined && depth !== Infinity && (typeof depth !== 'number' || !Number.isSafeInteger(depth) || depth < 1)) {
    throw invalidOption('maxSentDepth', 'a positive integer, or Infinity (no limit)', depth);
  }
  if (o.observer !== undefined) {
    const missing = OBSERVER_METHODS.find((method) => !hasMethod(o.observer, method));
    if (missing !== undefined) throw invalidOption('observer', `a ConnectionObserver (with a ${missing} method)`, o.observer);
    if ((o.observer as Record<string, unknown>).run !== undefined && !hasMethod(o.observer, 'run')) throw invalidOption('observer.run', 'a function or unset', (o.observer as Record<string, unknown>).run);
  }
  return o as IpcConnectionOptions;
}

/** Which frames a request expects back: any value, or bytes (the byte layer). */
const enum Expect {
  Value,
  Bytes,
}

class PendingCall implements Expirable, SignalMember {
  settled = false;
  lane: DeadlineLane | undefined;
  abortGroup: AbortGroup<SignalMember> | undefined;
  /** What the connection's observer returned when the call started. */
  token: unknown = undefined;
  constructor(
    readonly connection: IpcConnection,
    readonly id: number,
    readonly command: string,
    readonly expect: Expect,
    readonly resolve: (value: unknown) => void,
    readonly reject: (error: Error) => void,
    readonly timeoutMs: number,
  ) {}
  expire(): void {
    this.connection.abandon(this, new TimeoutError(this.command, this.timeoutMs));
  }
}

/**
 * Frames queued in one turn above which the outbox leaves at once rather than at the end
 * of the turn. A turn that queues hundreds of calls then sends them in slices the other
 * end starts on while this end is still queueing, instead of both ends taking turns
 * (measured in bench/suites/async.ts: 64 keeps the per-message cost small and the two
 * threads busy at the same time).
 */
export const FLUSH_FRAMES = 64;

/*
 * A promise's settle functions, taken out of its executor by one shared function: a
 * closure per call would be one more allocation on the hottest path (see
 * docs/benchmarks.md, async). Read right after `new Promise(captureSettlers)`, which
 * runs the executor synchronously.
 */
let capturedResolve: ((value: unknown) => void) | undefined;
let capturedReject: ((error: Error) => void) | undefined;
function captureSettlers(resolve: (value: unknown) => void, reject: (error: Error) => void): void {
  capturedResolve = resolve;
  capturedReject = reject;
}

/**
 * How many abandoned ids (timed out / aborted) to remember exactly. An answer to one of
 * them is a late answer, dropped; so is an answer to any id older than the newest one
 * forgotten (see {@link IpcConnection.isLateAnswer}), however many calls timed out.
 */
const ABANDONED_MEMORY = 65_536;

/**
 * One end of an IPC channel: requests out, requests in, both pipelined.
 *
 * Frames queued during one turn of the event loop leave as one batch (one
 * `postMessage` or one `write`), which is where most of the throughput comes from.
 */
export class IpcConnection {
  private readonly transport: Transport;
  private readonly handlers: HandlerTable | undefined;
  private readonly onNotify: ((command: string, payload: unknown) => void) | undefined;
  private readonly defaultTimeoutMs: number;
  private readonly peerName: string;
  private readonly maxMessageBytes: number;
  private readonly maxInFlight: number;
  /** See {@link IpcConnectionOptions.maxSentDepth}. */
  private readonly maxSentDepth: number;
  private readonly observer: ConnectionObserver | undefined;
  private readonly pending = new PendingTable<PendingCall>();
  private readonly abandoned = new Set<number>();
  /** The newest abandoned id dropped from `abandoned` (0: none yet). */
  private forgottenUpTo = 0;
  /** Whether request ids have wrapped around, so that every id has been issued. */
  private idsWrapped = false;
  private readonly abortGroups = new AbortGroups<PendingCall>((call, reason) => this.abandon(call, new AbortError(call.command, { cause: reason })));
  private readonly incoming = new Map<number, AbortController>();
  private readonly deadlines: DeadlineQueue;
  private readonly closeListeners: Array<(error: Error) => void> = [];
  /**
   * Waiters of {@link IpcConnection.whenIncomingStarted}, by the request id they wait for.
   * At most one per `owner` (a blocking server): the ids come off the wire, so without
   * that bound a hostile agent's requests with fences never sent would pile up here.
   */
  private fenceWaiters: FenceWaiter[] = [];
  private readonly outbox = new Outbox();
  /**
   * The answers in the outbox, for the observer: (token, outcome, error) in frame order,
   * `answersUsed` slots of them. A call the other side made is reported settled once its
   * answer's batch was sent, with what the caller gets: an answer the transport refuses
   * (too large, not encodable) reaches it as an error (see {@link resendOneByOne}). Kept
   * from batch to batch (no allocation per call); `spareAnswers` is the other buffer.
   */
  private answers: unknown[] = [];
  private answersUsed = 0;
  private spareAnswers: unknown[] | undefined = [];
  private flushScheduled: NodeJS.Immediate | undefined;
  /**
   * True while a batch is being handed to the transport. Serialising it reads the
   * values' getters (and `toJSON`), which are user code: a call queued from one must not
   * be sent before the batch it was made during, and a blocking call made from one
   * cannot wait for that batch (see {@link blockingFence}).
   */
  private sending = false;
  /** {@link nextId} when the last batch was taken: every request up to it has left or is leaving. */
  private sentUpToId = 0;
  private nextId = 0;
  private highestIncomingId = 0;
  /** Incoming calls whose handler returned a promise that has not settled yet. */
  private busy = 0;
  private idleWaiters: Array<() => void> = [];
  private closeReason: Error | undefined;

  /**
   * Starts serving `transport` (it is attached at once). Throws a `TypeError` (code
   * `ERR_AGENT_IPC_INVALID_ARGUMENT`) for a transport without `attach`, `send` and
   * `close`, or for bad {@link IpcConnectionOptions} (see there).
   */
  constructor(transport: Transport, options: IpcConnectionOptions = {}) {
    options = checkConnectionArguments(transport, options);
    this.transport = transport;
    this.handlers = options.handlers;
    this.onNotify = options.onNotify;
    this.defaultTimeoutMs = options.timeoutMs ?? 0;
    this.peerName = options.peerName ?? 'the other side';
    this.maxMessageBytes = options.maxMessageBytes ?? Infinity;
    this.maxInFlight = options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
    this.maxSentDepth = options.maxSentDepth ?? Infinity;
    this.observer = options.observer;
    this.deadlines = new DeadlineQueue(options.unrefTimers ?? false);
    transport.attach({
      onBatch: (batch) => this.receive(batch),
      onClose: (error) => this.close(error ?? new ConnectionClosedError(`${this.peerName} closed the connection`)),
    });
  }

  /** True once the connection is closed; calls then reject at once. */
  get closed(): boolean {
    return this.closeReason !== undefined;
  }

  /** Number of outgoing calls waiting for an answer. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** The highest request id received from the other side so far (ids grow by one). */
  get lastIncomingRequestId(): number {
    return this.highestIncomingId;
  }

  /** The id of the last request this end sent (or queued). */
  get lastOutgoingRequestId(): number {
    return this.nextId;
  }

  /**
   * Sends what is queued and returns the ordering fence of a blocking call `command`
   * about to be made on this end: the id of the last request sent, which the other side
   * starts before it serves the blocking call (its `whenIncomingStarted`).
   *
   * Throws `DeadlockError` when the call is made while a batch holding requests is being
   * serialised, i.e. from a getter or `toJSON` of an async call's argument: those requests
   * are not out until the serialiser returns, which it cannot do while this thread is
   * parked, so the other side would wait for its fence until the call timed out, or for
   * ever without a timeout. Checked here, once, for every isolation's blocking path.
   */
  blockingFence(command: string): number {
    this.flush();
    if (this.sending && this.nextId !== this.sentUpToId) {
      throw new DeadlockError(
        this.peerName,
        command,
        `it was made while earlier async calls were being sent (from a getter or toJSON of one of their arguments), and ${this.peerName} serves a blocking call only after the async calls made before it, which cannot leave while this thread is parked; read the value before making the async call, or make this call async`,
      );
    }
    return this.nextId % (MAX_REQUEST_ID + 1);
  }

  /** Calls the other side's handler for `command` with the args of a typed call (an array). */
  request(command: string, args: unknown[], options?: CallOptions): Promise<unknown> {
    if (!Array.isArray(args)) return Promise.reject(invalidArgument(`request('${String(command)}') args must be an array, got ${args === null ? 'null' : typeof args}`));
    return this.start(command, args, Expect.Value, options);
  }

  /** The byte layer: sends `payload` to `command` and resolves with the bytes it answers. */
  call(command: string, payload: Uint8Array = new Uint8Array(0), options?: CallOptions): Promise<Uint8Array> {
    if (!(payload instanceof Uint8Array)) {
      return Promise.reject(invalidArgument(`call('${String(command)}') payload must be a Uint8Array`));
    }
    return this.start(command, payload, Expect.Bytes, options) as Promise<Uint8Array>;
  }

  /**
   * Sends a one-way control message. Dropped silently once closed. A `command` that is
   * not a string is a `TypeError` (it would reach the other side as a malformed frame).
   */
  notify(command: string, payload: unknown = 0): void {
    if (typeof command !== 'string') checkCommand(command);
    if (this.closed) return;
    const outbox = this.outbox;
    outbox.put(FrameKind.NOTIFY);
    outbox.put(command);
    outbox.put(payload);
    this.queued();
  }

  /** Sends everything queued now instead of at the end of this turn. */
  flush(): void {
    // Called before every blocking call, where there is usually nothing to send: then
    // this check is all that runs, small enough to be inlined into the caller ("Hot
    // paths" in docs/blocking-calls.md).
    if (this.flushScheduled !== undefined || this.outbox.frames !== 0) this.sendQueued();
  }

  private sendQueued(): void {
    // Frames queued from a getter while a batch is serialised go after that batch.
    if (this.sending) {
      this.flushScheduled ??= setImmediate(this.scheduledFlush);
      return;
    }
    if (this.flushScheduled) {
      clearImmediate(this.flushScheduled);
      this.flushScheduled = undefined;
    }
    if (this.outbox.frames === 0) return;
    const objects = this.outbox.objects;
    const batch = this.outbox.take();
    const answers = this.answers;
    const used = this.answersUsed;
    if (used !== 0) {
      // Another buffer for answers queued while these settle (a subscriber may call).
      this.answers = this.spareAnswers ?? [];
      this.spareAnswers = undefined;
      this.answersUsed = 0;
    }
    const upToId = this.nextId;
    this.sending = true;
    try {
      if (objects > 0) this.refuseDeep(batch);
      this.transport.send(batch);
    } catch (error) {
      this.resendOneByOne(batch, error, answers, used);
    } finally {
      this.sending = false;
      this.sentUpToId = upToId;
      if (used !== 0) this.settleAnswers(answers, used);
    }
  }

  /** Reports the answers of a batch just sent (see {@link answers}). */
  private settleAnswers(answers: unknown[], used: number): void {
    const observer = this.observer!;
    for (let i = 0; i < used; i += 3) observer.incomingSettled(answers[i], answers[i + 1] as CallOutcome, answers[i + 2]);
    answers.fill(undefined, 0, used);
    this.spareAnswers = answers;
  }

  /** Resolves once no incoming call is being served (for a graceful close). */
  whenIdle(): Promise<void> {
    if (this.busy === 0 || this.closeReason) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Runs `listener` once when the connection closes, with the reason. */
  onClose(listener: (error: Error) => void): void {
    if (typeof listener !== 'function') throw invalidArgument(`onClose expects a function, got ${listener === null ? 'null' : typeof listener}`);
    if (this.closeReason) listener(this.closeReason);
    else this.closeListeners.push(listener);
  }

  /**
   * The ordering fence of blocking calls: resolves once the other side's request `id`
   * (and so every one before it) has been dispatched here, or returns `undefined` if it
   * already has. Rejects with the close reason if the connection closes first, so a
   * waiter always settles (unless another wait of its `owner` replaced it).
   *
   * `id` is a request id as the other side allocates them: an integer from 0 (none sent
   * yet) to 2^30 - 1. Anything else throws a `TypeError` (code
   * `ERR_AGENT_IPC_INVALID_ARGUMENT`): compared modulo the id space, it would stand for
   * some other request and wait for that one. The blocking servers pass an id read off
   * the wire (a blocking request's fence) only once they have checked it themselves:
   * theirs is a `ProtocolError` for that call.
   *
   * `owner` (a blocking server) bounds the waits: a wait of `owner` replaces its earlier
   * one, which is removed and never settles (what its reactions hold goes with it). A
   * server serves one request at a time, so its new request means its caller gave up on
   * the earlier one; and the fence is the caller's word, which a hostile agent can set to
   * an id it never sends, so that wait would last as long as the connection.
   */
  whenIncomingStarted(id: number, owner?: object): Promise<void> | undefined {
    // One AND and a compare: this is on every blocking call's path.
    if (!isRequestId(id)) throw notARequestId(id);
    if (!isLaterRequestId(id, this.highestIncomingId)) return undefined;
    // Only a call that waits pays for the owner's bound (a scan of at most one wait per server).
    if (owner !== undefined) this.dropFenceWait(owner);
    if (this.closeReason) return Promise.reject(this.closeReason);
    return new Promise((resolve, reject) => this.fenceWaiters.push({ id, owner, resolve, reject }));
  }

  /** Removes `owner`'s wait for a fence, if it has one: it never settles. */
  private dropFenceWait(owner: object): void {
    const waiters = this.fenceWaiters;
    for (let i = 0; i < waiters.length; i++) {
      if (waiters[i]!.owner === owner) {
        waiters.splice(i, 1);
        return;
      }
    }
  }

  /**
   * How many waits for a fence are registered (for tests: they are bounded by the
   * blocking servers, one each).
   *
   * @internal
   */
  get fenceWaitCount(): number {
    return this.fenceWaiters.length;
  }

  /**
   * Closes the connection. Queued frames are sent first; every pending call rejects
   * with `reason` (default `ConnectionClosedError`); handlers in progress see their
   * signal abort. Idempotent: the first reason wins. A `reason` that is not an `Error` is a
   * `TypeError` (calls would reject with it).
   */
  close(reason?: Error): void {
    if (reason !== undefined && !(reason instanceof Error)) throw invalidArgument('close(reason) expects an Error or nothing');
    if (this.closeReason) return;
    try {
      this.flush();
    } catch {
      // The transport may already be gone; the calls below still settle.
    }
    const error = reason ?? new ConnectionClosedError();
    this.closeReason = error;
    this.deadlines.clear();
    for (const call of this.pending.drain()) {
      if (this.settle(call)) {
        this.observer?.outgoingSettled(call.token, 'closed', error);
        call.reject(error);
      }
    }
    for (const controller of this.incoming.values()) controller.abort(error);
    this.incoming.clear();
    for (const resolve of this.idleWaiters.splice(0)) resolve();
    for (const waiter of this.fenceWaiters.splice(0)) waiter.reject(error);
    this.transport.close();
    for (const listener of this.closeListeners.splice(0)) listener(error);
  }

  /**
   * Gives up on a call (timeout or abort): rejects it and tells the other side.
   *
   * @internal
   */
  abandon(call: PendingCall, error: Error): void {
    if (call.settled) return;
    this.pending.take(call.id);
    this.remember(call.id);
    this.settle(call);
    this.observer?.outgoingSettled(call.token, error instanceof TimeoutError ? 'timeout' : 'aborted', error);
    call.reject(error);
    if (!this.closed) {
      this.outbox.put(FrameKind.CANCEL);
      this.outbox.put(call.id);
      this.queued();
    }
  }

  private start(command: string, payload: unknown, expect: Expect, options: CallOptions | undefined): Promise<unknown> {
    if (this.closeReason) return Promise.reject(this.closeReason);
    // The caller's mistakes are refused before the call exists: a command that is not a
    // string would reach the other side as a malformed frame (a protocol break that ends
    // the connection), and a bad signal would throw only once the call is pending.
    if (typeof command !== 'string' || options !== undefined) {
      try {
        checkCommand(command);
        checkCallOptions(options);
      } catch (error) {
        return Promise.reject(error);
      }
    }
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(new AbortError(command, { cause: signal.reason }));
    if (this.pending.size >= this.maxInFlight) return Promise.reject(new TooManyCallsError('outgoing', this.maxInFlight));
    if (this.maxMessageBytes !== Infinity) {
      const size = payloadBytes(payload);
      if (size > this.maxMessageBytes) return Promise.reject(new MessageTooLargeError(`the arguments of '${command}'`, size, this.maxMessageBytes));
    }
    const timeoutMs = options?.timeoutMs ?? this.defaultTimeoutMs;
    if (this.nextId >= MAX_REQUEST_ID) {
      this.nextId = 1;
      this.idsWrapped = true;
    } else {
      this.nextId++;
    }
    const id = this.nextId;
    const promise = new Promise(captureSettlers);
    const call = new PendingCall(this, id, command, expect, capturedResolve!, capturedReject!, timeoutMs);
    this.pending.add(call);
    if (this.observer) call.token = this.observer.outgoingStarted(id, command);
    if (timeoutMs > 0) call.lane = this.deadlines.add(call, timeoutMs);
    // One listener per signal, however many calls share it (see abort-groups.ts).
    if (signal) this.abortGroups.join(signal, call);
    this.queueRequest(id, command, payload, expect);
    return promise;
  }

  /** Marks a call settled and releases its timer and abort listener; returns it for chaining. */
  private settle(call: PendingCall): PendingCall | undefined {
    if (call.settled) return undefined;
    call.settled = true;
    call.lane?.compact();
    call.abortGroup?.leave(call);
    return call;
  }

  private remember(id: number): void {
    this.abandoned.add(id);
    if (this.abandoned.size > ABANDONED_MEMORY) {
      const oldest = this.abandoned.values().next().value as number;
      this.abandoned.delete(oldest);
      // Calls are abandoned roughly, not exactly, in id order (timeouts differ): keep the newest.
      if (this.forgottenUpTo === 0 || isLaterRequestId(oldest, this.forgottenUpTo)) this.forgottenUpTo = oldest;
    }
  }

  /**
   * Whether an answer to `id`, which is not pending, may be a late answer to a call this
   * end gave up on (dropped) rather than a frame that could never be valid (a protocol
   * break): an id never issued, or a second answer to a call that was answered. The
   * abandoned ids are remembered exactly up to {@link ABANDONED_MEMORY}; beyond that an
   * answer to any issued id at or before the newest one forgotten is taken as late, so
   * an honest slow peer is never mistaken for a broken one, however many calls timed out.
   */
  private isLateAnswer(id: number): boolean {
    if (!Number.isInteger(id) || id < 1 || id > MAX_REQUEST_ID) return false;
    if (!this.idsWrapped && id > this.nextId) return false;
    if (this.abandoned.delete(id)) return true;
    return this.forgottenUpTo !== 0 && !isLaterRequestId(id, this.forgottenUpTo);
  }

  private queueRequest(id: number, command: string, payload: unknown, expect: Expect): void {
    const outbox = this.outbox;
    outbox.put(FrameKind.REQUEST);
    outbox.put(id);
    outbox.put(command);
    if (expect === Expect.Bytes) {
      outbox.put(BYTES_PAYLOAD);
      outbox.put(payload);
    } else {
      const args = payload as unknown[];
      outbox.put(args.length);
      for (let i = 0; i < args.length; i++) outbox.put(args[i]);
    }
    this.queued();
  }

  /** Queues an answer; the observer learns of it, as `outcome` or as what replaced it, once it was sent. */
  private queueAnswer(kind: typeof FrameKind.RESPONSE | typeof FrameKind.ERROR, id: number, value: unknown, token: unknown, outcome: CallOutcome, error: unknown): void {
    const outbox = this.outbox;
    outbox.put(kind);
    outbox.put(id);
    outbox.put(value);
    if (this.observer) {
      const answers = this.answers;
      const at = this.answersUsed;
      answers[at] = token;
      answers[at + 1] = outcome;
      answers[at + 2] = error;
      this.answersUsed = at + 3;
    }
    this.queued();
  }

  /** Counts the frame just pushed and sends the outbox now or at the end of the turn. */
  private queued(): void {
    if (this.outbox.endFrame() >= FLUSH_FRAMES) this.flush();
    else this.flushScheduled ??= setImmediate(this.scheduledFlush);
  }

  private readonly scheduledFlush = (): void => {
    this.flushScheduled = undefined;
    this.flush();
  };

  /**
   * The transport refused a batch: it failed to serialize (a function or symbol somewhere
   * in a payload) or was too large for the transport (`MessageTooLargeError`). Send the
   * frames one by one so only the offending ones fail, each where it belongs: a request
   * rejects at its call site, an answer turns into an error for the caller, a one-way
   * frame is dropped. The one place a failed send becomes per-call errors. `answers`
   * (`used` slots) are the batch's answers for the observer, in frame order: a replaced
   * one is reported with the error that replaced it.
   */
  private resendOneByOne(batch: Batch, batchError: unknown, answers: unknown[], used: number): void {
    let answer = 0;
    for (let i = 0; i < batch.length; ) {
      const end = frameEnd(batch, i);
      const frame = batch.slice(i, end);
      i = end;
      const kind = frame[0];
      const isAnswer = kind === FrameKind.RESPONSE || kind === FrameKind.ERROR;
      try {
        this.refuseDeep(frame);
        this.transport.send(frame);
      } catch (error) {
        const id = frame[1] as number;
        if (kind === FrameKind.REQUEST) {
          const call = this.pending.take(id);
          if (call) {
            this.settle(call);
            const sendError = error instanceof MessageTooLargeError ? tooLargeFor(`request '${call.command}'`, error) : new DataCloneError(`an argument of '${call.command}'`, { cause: error });
            this.observer?.outgoingSettled(call.token, 'error', sendError);
            call.reject(sendError);
          }
          // The id was used: say so, or the other side would wait for it (an ordering
          // fence of a blocking call names the last request id sent).
          this.transport.send([FrameKind.CANCEL, id]);
        } else if (kind === FrameKind.RESPONSE || (kind === FrameKind.ERROR && error instanceof MessageTooLargeError)) {
          const answerError = error instanceof MessageTooLargeError ? tooLargeFor(`the answer to request #${id}`, error) : new DataCloneError('the result of the call', { cause: error });
          this.transport.send([FrameKind.ERROR, id, serializeError(answerError)]);
          if (answer < used) {
            answers[answer + 1] = 'error';
            answers[answer + 2] = answerError;
          }
        } else if (kind === FrameKind.NOTIFY) {
          // One-way and nobody waits for it: dropping it is all that can be done.
        } else {
          // ERROR and CANCEL frames are built by us from cloneable parts; failing here is a bug.
          throw batchError;
        }
      }
      if (isAnswer) answer += 3;
    }
  }

  /** Throws if `batch` nests deeper than {@link maxSentDepth} (see `nesting-guard.ts`). */
  private refuseDeep(batch: Batch): void {
    if (this.maxSentDepth !== Infinity) refuseDeeperThan(batch, this.maxSentDepth);
  }

  private receive(batch: Batch): void {
    if (this.closeReason) return;
    // Anything that is not a batch of well-formed frames is a protocol error.
    if (!Array.isArray(batch)) return this.protocolError('received a message that is not a batch of frames');
    for (let i = 0, frame = 0; i < batch.length && !this.closeReason; frame++) {
      const end = frameEnd(batch, i);
      if (end < 0) return this.protocolError(`frame ${frame} is malformed or of an unknown kind`);
      const kind = batch[i];
      const slot1 = batch[i + 1];
      const slot2 = batch[i + 2];
      if (kind === FrameKind.NOTIFY) {
        if (typeof slot1 !== 'string') return this.protocolError('notify frame without a name');
        this.onNotify?.(slot1, slot2);
      } else if (typeof slot1 !== 'number') {
        return this.protocolError(`frame ${frame} has a non-numeric id`);
      } else if (kind === FrameKind.REQUEST) {
        if (typeof slot2 !== 'string') return this.protocolError('request frame without a command name');
        const payload = batch[i + 3] === BYTES_PAYLOAD ? batch[i + 4] : requestArgs(batch, i + 4, end);
        if (payload === HOLE) return this.protocolError(`frame ${frame} claims more arguments than it carries`);
        this.serve(slot1, slot2, payload);
      } else if (kind === FrameKind.RESPONSE) {
        this.answer(slot1, slot2, undefined);
      } else if (kind === FrameKind.ERROR) {
        this.answer(slot1, undefined, slot2 as WireError);
      } else {
        // CANCEL
        this.noteIncomingId(slot1);
        this.incoming.get(slot1)?.abort(new AbortError(`#${slot1}`));
      }
      i = end;
    }
    if (this.fenceWaiters.length > 0) this.releaseFences();
  }

  private releaseFences(): void {
    const waiting = this.fenceWaiters;
    this.fenceWaiters = [];
    for (const waiter of waiting) {
      if (isLaterRequestId(waiter.id, this.highestIncomingId)) this.fenceWaiters.push(waiter);
      else waiter.resolve();
    }
  }

  /** Advances the highest request id seen from the other side (ids wrap around). */
  private noteIncomingId(id: number): void {
    if (id > this.highestIncomingId || this.highestIncomingId - id > MAX_REQUEST_ID / 2) this.highestIncomingId = id;
  }

  private serve(id: number, command: string, payload: unknown): void {
    this.noteIncomingId(id);
    const token = this.observer?.incomingStarted(id, command);
    const handler = this.handlers?.get(command);
    if (!handler) {
      this.refuse(id, new UnknownMethodError(command), token);
      return;
    }
    if (this.busy >= this.maxInFlight) {
      this.refuse(id, new TooManyCallsError('incoming', this.maxInFlight), token);
      return;
    }
    let controller: AbortController | undefined;
    let info: IncomingCall | undefined;
    if (handler.length > 1) {
      controller = new AbortController();
      this.incoming.set(id, controller);
      info = { id, command, signal: controller.signal };
    }
    let result: unknown;
    try {
      // Through the observer when it runs handlers (tracing: the stores bound to the channel).
      result = this.observer?.run ? this.observer.run(token, handler, payload, info as IncomingCall, undefined) : handler(payload, info as IncomingCall);
    } catch (error) {
      // `failed`, not `error !== undefined`: `throw undefined` must reject too.
      this.reply(id, controller, error, true, token);
      return;
    }
    if (isPromiseLike(result)) {
      this.busy++;
      if (this.observer) this.observer.incomingPending(token);
      result.then(
        (value) => this.replyLater(id, controller, value, false, token),
        (error: unknown) => this.replyLater(id, controller, error, true, token),
      );
    } else {
      this.reply(id, controller, result, false, token);
    }
  }

  /** Answers a request that is not served (unknown command, too many in flight) with `error`. */
  private refuse(id: number, error: Error, token: unknown): void {
    this.queueAnswer(FrameKind.ERROR, id, serializeError(error), token, 'error', error);
  }

  private replyLater(id: number, controller: AbortController | undefined, outcome: unknown, failed: boolean, token: unknown): void {
    this.reply(id, controller, outcome, failed, token);
    if (--this.busy === 0 && this.idleWaiters.length > 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  /** Answers request `id` with `outcome`: its result, or (if `failed`) what it threw, whatever that is. */
  private reply(id: number, controller: AbortController | undefined, outcome: unknown, failed: boolean, token: unknown): void {
    if (controller) this.incoming.delete(id);
    if (this.closeReason) {
      this.observer?.incomingSettled(token, 'closed', this.closeReason);
      return;
    }
    if (!failed) {
      if (this.maxMessageBytes !== Infinity) {
        const size = payloadBytes(outcome);
        if (size > this.maxMessageBytes) {
          this.refuse(id, new MessageTooLargeError(`the result of call #${id}`, size, this.maxMessageBytes), token);
          return;
        }
      }
      this.queueAnswer(FrameKind.RESPONSE, id, outcome, token, 'ok', undefined);
    } else {
      const wire = serializeError(outcome);
      // Held to maxMessageBytes as a result is (and as a blocking call's error answer is):
      // an error is data like any other, and a thread's structured clone would carry it whole.
      const tooLarge = this.maxMessageBytes === Infinity ? undefined : wireErrorTooLarge(wire, this.maxMessageBytes, `the error thrown by call #${id}`);
      if (tooLarge) {
        this.refuse(id, tooLarge, token);
        return;
      }
      this.queueAnswer(FrameKind.ERROR, id, wire, token, 'error', outcome);
    }
  }

  private answer(id: number, value: unknown, wireError: WireError | undefined): void {
    const call = this.pending.take(id);
    if (!call) {
      // A late answer to a call we gave up on is expected; anything else is a peer bug.
      if (this.isLateAnswer(id)) return;
      this.protocolError(`answer to unknown request id ${id}`);
      return;
    }
    this.settle(call);
    if (wireError !== undefined) {
      const error = isWireError(wireError) ? deserializeError(wireError, this.peerName) : new ProtocolError('malformed error frame');
      this.observer?.outgoingSettled(call.token, 'error', error);
      call.reject(error);
    } else if (call.expect === Expect.Bytes) {
      if (value instanceof Uint8Array || value === undefined || value === null) {
        this.observer?.outgoingSettled(call.token, 'ok', undefined);
        call.resolve(value instanceof Uint8Array ? value : new Uint8Array(0));
      } else {
        const error = new ProtocolError(`'${call.command}' answered a byte-layer call with a ${typeof value}, not a Uint8Array`);
        this.observer?.outgoingSettled(call.token, 'error', error);
        call.reject(error);
      }
    } else {
      this.observer?.outgoingSettled(call.token, 'ok', undefined);
      call.resolve(value);
    }
  }

  private protocolError(message: string): void {
    this.close(new ProtocolError(`${this.peerName} broke the protocol: ${message}`));
  }
}

/** What {@link requestArgs} returns for a frame with a hole where an argument should be. */
const HOLE = Symbol('hole');

/**
 * The arguments of a request frame, `batch[from..end)`. Not `slice`: a hostile batch can
 * be a sparse array (structured clone and `v8.serialize` keep holes) whose length and
 * argument count claim billions of slots that no byte backs, and `slice` would walk
 * every one of them. Here the walk stops at the first hole, so its cost is bounded by
 * the elements actually received.
 */
function requestArgs(batch: Batch, from: number, end: number): unknown[] | typeof HOLE {
  const args = new Array<unknown>();
  for (let k = from; k < end; k++) {
    if (!(k in batch)) return HOLE;
    args.push(batch[k]);
  }
  return args;
}

function isWireError(value: unknown): value is WireError {
  return value !== null && typeof value === 'object' && typeof (value as WireError).message === 'string' && typeof (value as WireError).name === 'string';
}

/** A wait of {@link IpcConnection.whenIncomingStarted}: the request id it waits for, and whose wait it is. */
interface FenceWaiter {
  id: number;
  owner: object | undefined;
  resolve: () => void;
  reject: (error: Error) => void;
}

/** The `TypeError` of {@link IpcConnection.whenIncomingStarted} for an `id` that is not a request id (built out of line). */
function notARequestId(id: unknown): TypeError {
  return invalidArgument(`whenIncomingStarted(id) expects a request id, an integer from 0 to ${MAX_REQUEST_ID}, got ${typeof id === 'number' ? String(id) : typeof id}`);
}

/** A transport's `MessageTooLargeError` for a batch, retold for the one frame `what` that was too large. */
function tooLargeFor(what: string, error: MessageTooLargeError): MessageTooLargeError {
  const estimated = error.message.includes('decoded values');
  return new MessageTooLargeError(estimated ? `the decoded values of ${what} (estimated)` : what, error.size, error.limit);
}
