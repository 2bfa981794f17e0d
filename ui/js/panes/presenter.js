import { paneSection, stageLayout } from './common.js';

export const pane = {
  id: 'presenter',
  title: 'Presenter',
  icon: 'presenter',
  description: 'Publish your camera and microphone as a live stream and send metadata to viewers.',
  mount(store) {
    const { section, body } = paneSection(this);
    body.append(
      stageLayout('presenter', {
        stageTitle: 'Camera preview',
        stageText: 'Your camera appears here before and while you publish.',
        cards: [
          {
            id: 'presenter-publish',
            title: 'Publish',
            items: [
              'Choose a camera and microphone',
              'Name the stream and publish it over WHIP or the WebSocket proxy',
              'Watch bitrate, frame rate and connection quality',
            ],
          },
          {
            id: 'presenter-metadata',
            title: 'Metadata',
            text: 'Send onMetaData messages (e.g. captions, cues) to everyone watching.',
          },
        ],
      }),
    );
    return section;
  },
};
