import { paneSection, stageLayout } from './common.js';

export const pane = {
  id: 'viewer',
  title: 'Viewer',
  icon: 'viewer',
  description: 'Watch a live stream and follow the metadata its presenter sends.',
  mount(store) {
    const { section, body } = paneSection(this);
    body.append(
      stageLayout('viewer', {
        stageTitle: 'Playback',
        stageText: 'The subscribed stream plays here, with its audio on your speakers.',
        cards: [
          {
            id: 'viewer-subscribe',
            title: 'Subscribe',
            items: [
              'Enter a stream name on the active server',
              'Subscribe over WHEP or the WebSocket proxy',
              'See resolution, frame rate and jitter',
            ],
          },
          { id: 'viewer-metadata', title: 'Metadata log', empty: 'No metadata received yet.' },
        ],
      }),
    );
    return section;
  },
};
