#!/usr/bin/env node
// Generates test/fixtures/math-corpus.txt: a small, deterministic corpus of arithmetic worked examples
// (documents separated by blank lines) for the pretraining tests. Every sentence is produced here from
// templates and a seeded PRNG; nothing is copied from elsewhere.
//   node scripts/gen-math-corpus.js [out.txt] [approx-bytes]
'use strict';
const fs = require('fs');
const path = require('path');

const out = process.argv[2] ?? path.join(__dirname, '..', 'test', 'fixtures', 'math-corpus.txt');
const target = Number(process.argv[3] ?? 200000);

let s = 0x2545f491;
function rand() {
  // xorshift32
  s ^= s << 13;
  s >>>= 0;
  s ^= s >>> 17;
  s ^= s << 5;
  s >>>= 0;
  return s / 4294967296;
}
const int = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));
const pick = (a) => a[Math.floor(rand() * a.length)];

const names = ['Ava', 'Ben', 'Carla', 'Dev', 'Emma', 'Farid', 'Grace', 'Hugo', 'Iris', 'Jonah', 'Kemi', 'Liam', 'Maya', 'Noor', 'Omar', 'Priya'];
const things = ['apples', 'marbles', 'stickers', 'pencils', 'books', 'coins', 'cookies', 'cards', 'shells', 'stamps'];

const templates = [
  () => {
    const a = int(2, 99), b = int(2, 99);
    return `Problem: What is ${a} + ${b}?\nSolution: We add the two numbers: ${a} + ${b} = ${a + b}.\nThe answer is ${a + b}.`;
  },
  () => {
    const a = int(20, 199), b = int(1, a);
    return `Problem: What is ${a} - ${b}?\nSolution: We subtract: ${a} - ${b} = ${a - b}.\nThe answer is ${a - b}.`;
  },
  () => {
    const a = int(2, 19), b = int(2, 19);
    return `Problem: Compute ${a} times ${b}.\nSolution: ${a} * ${b} = ${a * b}.\nThe answer is ${a * b}.`;
  },
  () => {
    const b = int(2, 12), q = int(2, 20);
    return `Problem: What is ${b * q} divided by ${b}?\nSolution: ${b * q} / ${b} = ${q}, because ${b} * ${q} = ${b * q}.\nThe answer is ${q}.`;
  },
  () => {
    const n = pick(names), t = pick(things), a = int(3, 40), b = int(2, 30);
    return `Problem: ${n} has ${a} ${t} and buys ${b} more. How many ${t} does ${n} have now?\nSolution: ${n} starts with ${a} ${t}. After buying ${b} more, ${n} has ${a} + ${b} = ${a + b} ${t}.\nThe answer is ${a + b}.`;
  },
  () => {
    const n = pick(names), m = pick(names.filter((x) => x !== n)), t = pick(things), a = int(10, 60), b = int(1, a - 1);
    return `Problem: ${n} had ${a} ${t} and gave ${b} of them to ${m}. How many ${t} are left?\nSolution: ${n} gives away ${b} of ${a} ${t}, so ${a} - ${b} = ${a - b} ${t} are left.\nThe answer is ${a - b}.`;
  },
  () => {
    const n = pick(names), t = pick(things), k = int(2, 9), e = int(2, 12);
    return `Problem: ${n} has ${k} boxes with ${e} ${t} in each box. How many ${t} are there in all?\nSolution: There are ${k} boxes of ${e}, so ${k} * ${e} = ${k * e} ${t}.\nThe answer is ${k * e}.`;
  },
  () => {
    const a = int(2, 9), x = int(1, 15), b = int(1, 30);
    const c = a * x + b;
    return `Problem: Solve ${a}x + ${b} = ${c}.\nSolution: Subtract ${b} from both sides: ${a}x = ${c} - ${b} = ${c - b}. Divide both sides by ${a}: x = ${c - b} / ${a} = ${x}.\nThe answer is x = ${x}.`;
  },
  () => {
    const w = int(2, 20), h = int(2, 20);
    return `Problem: A rectangle is ${w} cm wide and ${h} cm long. What are its area and perimeter?\nSolution: The area is ${w} * ${h} = ${w * h} square cm. The perimeter is 2 * (${w} + ${h}) = 2 * ${w + h} = ${2 * (w + h)} cm.\nThe answer is area ${w * h}, perimeter ${2 * (w + h)}.`;
  },
  () => {
    const p = pick([10, 20, 25, 50, 75]), base = int(1, 20) * 4 * 5;
    const r = (p * base) / 100;
    return `Problem: What is ${p}% of ${base}?\nSolution: ${p}% means ${p}/100. So ${p}/100 * ${base} = ${p * base}/100 = ${r}.\nThe answer is ${r}.`;
  },
  () => {
    const a = int(1, 9), b = int(1, 9), c = int(1, 9);
    return `Problem: Evaluate ${a} + ${b} * ${c}.\nSolution: Multiplication comes first: ${b} * ${c} = ${b * c}. Then ${a} + ${b * c} = ${a + b * c}.\nThe answer is ${a + b * c}.`;
  },
  () => {
    const n = int(3, 6), xs = Array.from({ length: n }, () => int(1, 30));
    const sum = xs.reduce((x, y) => x + y, 0);
    return `Problem: Find the sum of ${xs.join(', ')}.\nSolution: ${xs.join(' + ')} = ${sum}.\nThe answer is ${sum}.`;
  },
  () => {
    const n = int(2, 25);
    return `Problem: What is the square of ${n}?\nSolution: The square of ${n} is ${n} * ${n} = ${n * n}.\nThe answer is ${n * n}.`;
  },
  () => {
    const n = pick(names), sp = int(20, 80), hr = int(2, 6);
    return `Problem: ${n} drives at ${sp} km per hour for ${hr} hours. How far does ${n} travel?\nSolution: Distance is speed times time: ${sp} * ${hr} = ${sp * hr} km.\nThe answer is ${sp * hr}.`;
  },
];

let text = '';
while (Buffer.byteLength(text) < target) text += pick(templates)() + '\n\n';
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, text);
console.log(`wrote ${out}: ${Buffer.byteLength(text)} bytes, ${text.split('\n\n').length - 1} documents`);
