import './base.css';
import './jobs.css';
import './sweeps.css';
