import { paneSection, stageLayout } from './common.js';

export const pane = {
  id: 'participant',
  title: 'Participant',
  icon: 'participant',
  description: 'Join a conference: wait to be admitted, then see everyone and be heard.',
  mount(store) {
    const { section, body } = paneSection(this);
    body.append(
      stageLayout('participant', {
        stageTitle: 'Conference video',
        stageText: 'The composite of all participants appears here once the host admits you.',
        cards: [
          {
            id: 'participant-join',
            title: 'Join a room',
            items: [
              'Pick a room on the active server and a display name',
              'Publish your camera and microphone into the waiting room',
              'Receive the composite video and a mix-minus audio feed (everyone but you)',
            ],
          },
          { id: 'participant-status', title: 'Room status', empty: 'Not in a room.' },
        ],
      }),
    );
    return section;
  },
};
