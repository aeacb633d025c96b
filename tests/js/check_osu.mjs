// Decode .osu files with osu-parsers' BeatmapDecoder.
// Usage: node check_osu.mjs FILE.osu...
// Prints one JSON object per file name: mode, key count (CircleSize), timing points, hit objects.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { BeatmapDecoder } from 'osu-parsers';

const decoder = new BeatmapDecoder();
const result = {};
for (const path of process.argv.slice(2)) {
  const beatmap = decoder.decodeFromString(readFileSync(path, 'utf8'), { parseStoryboard: false });
  result[basename(path)] = {
    fileFormat: beatmap.fileFormat,
    mode: beatmap.mode,
    keys: beatmap.difficulty.circleSize,
    audio: beatmap.general.audioFilename,
    background: beatmap.events.backgroundPath,
    title: beatmap.metadata.title,
    titleUnicode: beatmap.metadata.titleUnicode,
    version: beatmap.metadata.version,
    timingPoints: beatmap.controlPoints.timingPoints.map((p) => [p.startTime, p.beatLength]),
    hitObjects: beatmap.hitObjects.map((h) => [h.startTime, h.startX, h.hitType, h.endTime ?? h.startTime]),
  };
}
process.stdout.write(JSON.stringify(result));
