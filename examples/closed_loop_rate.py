"""Closed-loop control example: hold the firing rate recorded at one electrode at a target.

    python examples/closed_loop_rate.py                     # default backend (brian2 when installed)
    python examples/closed_loop_rate.py --backend example   # any installed backend

Each step stimulates for 50 ms with biphasic pulses (one amplitude per electrode, uA) and observes
the multi-unit rate per electrode (Hz). Two policies play the same episodes (same culture seeds):
a random policy (uniform amplitudes on every electrode) and a simple integral controller that
stimulates only the target electrode and nudges its amplitude by the rate error each step. The
script prints both policies' mean absolute rate error and reward; the controller should win clearly.

The target defaults to twice the target electrode's spontaneous rate (measured first), so the task
is reachable on any backend. Backends that take only injected current (the example backend) are
driven through the documented surrogate (``input_mode="current"``), chosen automatically.
"""

from __future__ import annotations

import argparse
import sys
import time

import livn
import numpy as np
from livn.errors import CapabilityError
from livn.gym import make_rate_task


def random_policy(task, observation, state):
    """Uniform random amplitudes on every electrode."""
    return task.action_space.sample(), state


def integral_controller(channel, target, gain, max_amplitude):
    """Stimulate only ``channel``; amplitude += gain * (target - rate) / target (uA), clipped."""

    def policy(task, observation, amplitude):
        error = (target - float(observation[channel])) / target
        amplitude = float(np.clip(amplitude + gain * error, 0.0, max_amplitude))
        action = np.zeros(task.action_space.shape, dtype=np.float32)
        action[channel] = amplitude
        return action, amplitude

    return policy


def play(task, policy, episodes, seed, initial_state, warmup):
    """Mean absolute rate error (Hz) and mean reward over the steps after ``warmup``."""
    errors, rewards = [], []
    for episode in range(episodes):
        task.action_space.seed(seed + episode)
        task.livn_env.clear(seed=seed + episode)
        observation, _ = task.reset()
        state = initial_state
        truncated = False
        step = 0
        while not truncated:
            action, state = policy(task, observation, state)
            observation, reward, _, truncated, _ = task.step(action)
            if step >= warmup:
                errors.append(abs(float(observation[task.reward_fn.index]) - task.reward_fn.target))
                rewards.append(reward)
            step += 1
    return float(np.mean(errors)), float(np.mean(rewards))


def spontaneous_rate(env, channel, duration, steps=4):
    """Mean multi-unit rate (Hz) at ``channel`` without stimulation."""
    from livn.decoding import MeanFiringRate

    env.clear()
    decoding = MeanFiringRate(duration, by="channel")
    return float(np.mean([env(decoding)[channel] for _ in range(steps)]))


def choose_input_mode(env, requested):
    """``requested``, or for ``auto`` extracellular unless the backend refuses it."""
    if requested != "auto":
        return requested
    from livn.encoding import BiphasicAmplitudes

    try:
        env.run(1.0, BiphasicAmplitudes()(env, np.zeros(env.io.num_channels)))
        mode = "extracellular"
    except CapabilityError as exc:
        print(f"note: {env.backend_name} refuses extracellular stimuli ({exc}); using input_mode='current'")
        mode = "current"
    env.clear()
    return mode


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--system", default="EI2")
    parser.add_argument("--backend", default=None, help="backend name (default: LIVN_BACKEND, else brian2)")
    parser.add_argument("--channel", type=int, default=5, help="electrode row to control")
    parser.add_argument("--target", type=float, default=None, help="target rate in Hz (default 2x spontaneous)")
    parser.add_argument("--episodes", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20, help="steps per episode")
    parser.add_argument("--step-ms", type=float, default=50.0)
    parser.add_argument("--gain", type=float, default=10.0, help="controller gain, uA per unit relative error")
    parser.add_argument("--max-amplitude", type=float, default=60.0, help="uA")
    parser.add_argument("--input-mode", choices=("auto", "extracellular", "current"), default="auto")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    start = time.perf_counter()
    env = livn.make(args.system, backend=args.backend, seed=args.seed, record=("spikes",))
    mode = choose_input_mode(env, args.input_mode)
    baseline = spontaneous_rate(env, args.channel, args.step_ms)
    target = args.target if args.target is not None else max(2.0 * baseline, 20.0)
    task = make_rate_task(
        env,
        channel=args.channel,
        target=target,
        step_duration=args.step_ms,
        max_amplitude=args.max_amplitude,
        max_steps=args.steps,
        input_mode=mode,
    )
    warmup = min(5, args.steps // 3)
    print(
        f"{args.system} on {env.backend_name} ({env.model.name}), input_mode={mode}; electrode {args.channel}: "
        f"spontaneous {baseline:.1f} Hz, target {target:.1f} Hz; {args.episodes} episodes x {args.steps} steps "
        f"of {args.step_ms:g} ms (first {warmup} steps not scored)"
    )
    results = {}
    for name, policy, state in (
        ("random", random_policy, None),
        ("controller", integral_controller(args.channel, target, args.gain, args.max_amplitude), 0.0),
    ):
        results[name] = play(task, policy, args.episodes, args.seed, state, warmup)
    print(f"{'policy':<12} {'mean |rate - target| (Hz)':>26} {'mean reward':>12}")
    for name, (error, reward) in results.items():
        print(f"{name:<12} {error:>26.1f} {reward:>12.3f}")
    ratio = results["random"][0] / max(results["controller"][0], 1e-9)
    print(f"the controller's error is {ratio:.1f}x smaller than the random policy's "
          f"({time.perf_counter() - start:.1f} s wall)")
    task.close()
    return 0 if results["controller"][1] > results["random"][1] else 1


if __name__ == "__main__":
    sys.exit(main())
